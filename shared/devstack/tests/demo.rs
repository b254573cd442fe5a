//! `devstack demo` runs from the real template and exits 0, naming what has not landed.

use std::process::Command;

#[test]
fn given_the_real_template_when_the_demo_runs_then_it_exits_0_and_every_step_reports() {
    // GIVEN the devstack binary built from this workspace
    let binary = env!("CARGO_BIN_EXE_devstack");

    // WHEN the demo runs
    let output = Command::new(binary)
        .arg("demo")
        .env_remove("GRAPH_BASE_URL")
        .env_remove("LOGIN_BASE_URL")
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);

    // THEN it succeeds, the health step is done, and no step failed
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("GET /health -> 200"), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
}
