//! Microsoft 365 usage reports: mailbox usage detail (CSV).

use chrono::NaiveDate;

use crate::error::GraphError;

/// The period a usage report covers (`getMailboxUsageDetail(period='D7')`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailboxUsagePeriod {
    D7,
    D30,
    D90,
    D180,
}

impl MailboxUsagePeriod {
    /// The value Graph expects in the function parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxUsagePeriod::D7 => "D7",
            MailboxUsagePeriod::D30 => "D30",
            MailboxUsagePeriod::D90 => "D90",
            MailboxUsagePeriod::D180 => "D180",
        }
    }
}

/// One mailbox of the mailbox usage detail report. User names may be concealed (hashed) by the
/// tenant's report settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxUsageRow {
    pub report_refresh_date: Option<NaiveDate>,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub is_deleted: bool,
    pub deleted_date: Option<NaiveDate>,
    pub created_date: Option<NaiveDate>,
    pub last_activity_date: Option<NaiveDate>,
    pub item_count: Option<u64>,
    pub storage_used_bytes: Option<u64>,
    pub issue_warning_quota_bytes: Option<u64>,
    pub prohibit_send_quota_bytes: Option<u64>,
    pub prohibit_send_receive_quota_bytes: Option<u64>,
    pub deleted_item_count: Option<u64>,
    pub deleted_item_size_bytes: Option<u64>,
    pub deleted_item_quota_bytes: Option<u64>,
    pub has_archive: Option<bool>,
    /// Days covered (7, 30, 90, 180).
    pub report_period: Option<u32>,
}

/// The downloaded CSV of a mailbox usage report; rows are parsed lazily, one at a time.
#[derive(Debug, Clone)]
pub struct MailboxUsageReport {
    csv: Vec<u8>,
    request_id: Option<String>,
}

/// The report's column headings, in the order of [`MailboxUsageRow`]'s fields.
const COLUMNS: [&str; 17] = [
    "Report Refresh Date",
    "User Principal Name",
    "Display Name",
    "Is Deleted",
    "Deleted Date",
    "Created Date",
    "Last Activity Date",
    "Item Count",
    "Storage Used (Byte)",
    "Issue Warning Quota (Byte)",
    "Prohibit Send Quota (Byte)",
    "Prohibit Send/Receive Quota (Byte)",
    "Deleted Item Count",
    "Deleted Item Size (Byte)",
    "Deleted Item Quota (Byte)",
    "Has Archive",
    "Report Period",
];

impl MailboxUsageReport {
    /// A report from its CSV text (as downloaded).
    pub fn from_csv(csv: Vec<u8>, request_id: Option<String>) -> Self {
        MailboxUsageReport { csv, request_id }
    }

    /// Graph's `request-id` of the report request.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The rows, in file order. Columns are found by heading, so their order does not matter;
    /// a missing `User Principal Name` column is an error, other missing columns read as empty.
    pub fn rows(
        &self,
    ) -> Result<impl Iterator<Item = Result<MailboxUsageRow, GraphError>> + '_, GraphError> {
        let body = self
            .csv
            .strip_prefix("\u{feff}".as_bytes())
            .unwrap_or(&self.csv);
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(body);
        let headers = reader
            .headers()
            .map_err(|e| self.bad(format!("unreadable CSV heading: {e}")))?;
        let mut index = [None; COLUMNS.len()];
        for (position, heading) in headers.iter().enumerate() {
            if let Some(column) = COLUMNS.iter().position(|c| *c == heading.trim()) {
                index[column] = Some(position);
            }
        }
        if index[1].is_none() {
            return Err(self.bad("the CSV has no \"User Principal Name\" column".to_owned()));
        }
        Ok(reader.into_records().map(move |record| {
            let record = record.map_err(|e| self.bad(format!("unreadable CSV row: {e}")))?;
            let field = |column: usize| {
                index[column]
                    .and_then(|i| record.get(i))
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
            };
            let date =
                |column| field(column).and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
            let number = |column| field(column).and_then(|v| v.parse::<u64>().ok());
            let flag = |column| field(column).map(|v| v.eq_ignore_ascii_case("true"));
            Ok(MailboxUsageRow {
                report_refresh_date: date(0),
                user_principal_name: field(1).unwrap_or_default().to_owned(),
                display_name: field(2).map(str::to_owned),
                is_deleted: flag(3).unwrap_or(false),
                deleted_date: date(4),
                created_date: date(5),
                last_activity_date: date(6),
                item_count: number(7),
                storage_used_bytes: number(8),
                issue_warning_quota_bytes: number(9),
                prohibit_send_quota_bytes: number(10),
                prohibit_send_receive_quota_bytes: number(11),
                deleted_item_count: number(12),
                deleted_item_size_bytes: number(13),
                deleted_item_quota_bytes: number(14),
                has_archive: flag(15),
                report_period: field(16).and_then(|v| v.parse().ok()),
            })
        }))
    }

    fn bad(&self, reason: String) -> GraphError {
        GraphError::unexpected(200, self.request_id.clone(), reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_report_csv_with_bom_when_rows_are_read_then_columns_are_typed() {
        // GIVEN a two-row report as Graph serves it (UTF-8 BOM, documented headings)
        let csv = "\u{feff}Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Created Date,Last Activity Date,Item Count,Storage Used (Byte),Issue Warning Quota (Byte),Prohibit Send Quota (Byte),Prohibit Send/Receive Quota (Byte),Deleted Item Count,Deleted Item Size (Byte),Deleted Item Quota (Byte),Has Archive,Report Period\n\
2026-01-31,ada@contoso.com,Ada,False,,2024-02-01,2026-01-30,1200,52428800,105226698752,106300440576,107374182400,3,2048,32212254720,True,30\n\
2026-01-31,3F2504E04F8941D39A0C0305E82C3301,,True,2026-01-20,,,,,,,,,,,,30\n";
        let report = MailboxUsageReport::from_csv(csv.as_bytes().to_vec(), None);
        // WHEN the rows are read
        let rows: Result<Vec<_>, _> = report.rows().and_then(|r| r.collect());
        // THEN they are typed, and empty cells are None
        let rows = match rows {
            Ok(rows) => rows,
            other => panic!("{other:?}"),
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].user_principal_name, "ada@contoso.com");
        assert_eq!(rows[0].storage_used_bytes, Some(52_428_800));
        assert_eq!(rows[0].has_archive, Some(true));
        assert_eq!(rows[0].report_period, Some(30));
        assert!(rows[1].is_deleted);
        assert_eq!(rows[1].last_activity_date, None);
        assert_eq!(rows[1].display_name, None);
    }

    #[test]
    fn given_csv_without_upn_column_when_read_then_error_not_panic() {
        let report = MailboxUsageReport::from_csv(b"a,b\n1,2\n".to_vec(), None);
        assert!(report.rows().is_err());
    }
}
