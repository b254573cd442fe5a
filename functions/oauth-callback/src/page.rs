//! The small HTML pages a person sees at the end of the consent flow: what happened, what to do
//! next, and a way back. One self-contained document each (inline CSS, no script, no external
//! resource), every dynamic value escaped.

use std::fmt::Write as _;

/// How the page reads: a success or something to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Success,
    Problem,
}

/// A link button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub label: String,
    pub href: String,
}

/// A result page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub tone: Tone,
    pub title: String,
    /// Paragraphs under the title.
    pub paragraphs: Vec<String>,
    /// Label/value rows (tenant, domains, mode, ...).
    pub facts: Vec<(String, String)>,
    /// Bullet points (e.g. missing permissions).
    pub points: Vec<String>,
    pub actions: Vec<Action>,
}

impl Page {
    /// A page with a title and nothing else yet.
    pub fn new(tone: Tone, title: impl Into<String>) -> Self {
        Self {
            tone,
            title: title.into(),
            paragraphs: Vec::new(),
            facts: Vec::new(),
            points: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Adds a paragraph.
    pub fn say(mut self, text: impl Into<String>) -> Self {
        self.paragraphs.push(text.into());
        self
    }

    /// Adds a label/value row.
    pub fn fact(mut self, label: impl Into<String>, value: impl Into<String>) -> Self {
        self.facts.push((label.into(), value.into()));
        self
    }

    /// Adds a bullet point.
    pub fn point(mut self, text: impl Into<String>) -> Self {
        self.points.push(text.into());
        self
    }

    /// Adds a link button.
    pub fn action(mut self, label: impl Into<String>, href: impl Into<String>) -> Self {
        self.actions.push(Action {
            label: label.into(),
            href: href.into(),
        });
        self
    }

    /// The HTML document.
    pub fn render(&self) -> String {
        let (mark, accent, soft) = match self.tone {
            Tone::Success => ("&#10003;", "#107c41", "#e7f4ec"),
            Tone::Problem => ("!", "#b3261e", "#fbeaea"),
        };
        let mut body = String::new();
        for paragraph in &self.paragraphs {
            let _ = write!(body, "<p>{}</p>", escape(paragraph));
        }
        if !self.facts.is_empty() {
            body.push_str("<dl>");
            for (label, value) in &self.facts {
                let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", escape(label), escape(value));
            }
            body.push_str("</dl>");
        }
        if !self.points.is_empty() {
            body.push_str("<ul>");
            for point in &self.points {
                let _ = write!(body, "<li>{}</li>", escape(point));
            }
            body.push_str("</ul>");
        }
        if !self.actions.is_empty() {
            body.push_str("<nav>");
            for (i, action) in self.actions.iter().enumerate() {
                let class = if i == 0 { "primary" } else { "secondary" };
                let _ = write!(
                    body,
                    "<a class=\"{class}\" href=\"{}\">{}</a>",
                    escape(&action.href),
                    escape(&action.label)
                );
            }
            body.push_str("</nav>");
        }
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>{STYLE}\
.mark{{background:{soft};color:{accent}}}a.primary{{background:{accent}}}</style></head>\
<body><main><div class=\"mark\" aria-hidden=\"true\">{mark}</div><h1>{title}</h1>{body}</main>\
<footer>Microsoft 365 connection</footer></body></html>",
            title = escape(&self.title),
        )
    }
}

const STYLE: &str = "*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:center;\
background:linear-gradient(160deg,#f5f7fb,#e9eef6);font:16px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2933}\
main{width:min(620px,92vw);background:#fff;border-radius:16px;padding:40px 44px;box-shadow:0 10px 30px rgba(31,41,51,.12)}\
.mark{width:56px;height:56px;border-radius:50%;display:flex;align-items:center;justify-content:center;font-size:30px;font-weight:700;margin-bottom:18px}\
h1{font-size:24px;margin:0 0 12px;line-height:1.25}\
p{margin:0 0 12px;color:#3e4c59}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:18px 0;padding:16px;background:#f7f9fc;border-radius:10px}\
dt{color:#7b8794;font-size:14px}dd{margin:0;font-weight:500;overflow-wrap:anywhere}\
ul{margin:12px 0;padding-left:20px;color:#3e4c59}li{margin:4px 0}\
nav{display:flex;gap:12px;flex-wrap:wrap;margin-top:24px}\
a{display:inline-block;padding:10px 18px;border-radius:8px;text-decoration:none;font-weight:600}\
a.primary{color:#fff}a.secondary{color:#334e68;background:#eef2f7}\
footer{margin-top:18px;color:#9aa5b1;font-size:13px}";

/// Escapes text for HTML content and attributes (the bundle's one escaper).
pub use lifecycle::http::escape_html as escape;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_hostile_text_when_rendered_then_it_is_escaped_everywhere() {
        let page = Page::new(Tone::Problem, "<script>x</script>")
            .say("a & b")
            .fact("Tenant", "\"quoted\"")
            .point("<b>")
            .action("Back", "javascript:alert('x')\"><script>");
        let html = page.render();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("&quot;quoted&quot;"));
    }

    #[test]
    fn given_a_success_page_when_rendered_then_it_has_title_facts_and_the_action() {
        let html = Page::new(Tone::Success, "Connected")
            .fact("Tenant", "Contoso")
            .action("Back to the app", "https://app.example.com/")
            .render();
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<h1>Connected</h1>"));
        assert!(html.contains("<dt>Tenant</dt><dd>Contoso</dd>"));
        assert!(html.contains("href=\"https://app.example.com/\""));
    }
}
