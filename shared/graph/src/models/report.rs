//! Microsoft 365 usage reports: mailbox usage detail (CSV).

use std::fs::File;
use std::io::{self, BufReader, Read as _, Seek as _, SeekFrom, Write as _};

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

/// The downloaded CSV of a mailbox usage report; rows are parsed lazily, one at a time. A
/// downloaded report lies in a temporary file, not in memory (a row per mailbox: ~50 MB for
/// 200,000 accounts), so what the reader holds is one row at a time.
#[derive(Debug)]
pub struct MailboxUsageReport {
    csv: Spool,
    request_id: Option<String>,
}

/// Where a downloaded body is kept while it is read: an unnamed temporary file (removed from the
/// directory as soon as it is made, so nothing is left behind), or memory where no file can be
/// made.
#[derive(Debug)]
pub(crate) enum Spool {
    File(File),
    Memory(Vec<u8>),
}

impl Spool {
    pub(crate) fn new() -> Spool {
        let path = std::env::temp_dir().join(format!(
            "graph-download-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path);
        match file {
            Ok(file) => {
                // The open handle keeps the file; its name is not needed.
                let _ = std::fs::remove_file(&path);
                Spool::File(file)
            }
            Err(_) => Spool::Memory(Vec::new()),
        }
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Spool::File(file) => file.write_all(bytes),
            Spool::Memory(body) => {
                body.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// The body from its start, without a UTF-8 byte order mark.
    fn reader(&self) -> io::Result<Box<dyn io::Read + '_>> {
        const BOM: &[u8] = "\u{feff}".as_bytes();
        match self {
            Spool::Memory(body) => Ok(Box::new(body.strip_prefix(BOM).unwrap_or(body))),
            Spool::File(file) => {
                let mut file: &File = file;
                file.seek(SeekFrom::Start(0))?;
                let mut start = [0u8; 3];
                let mut read = 0;
                while read < start.len() {
                    match file.read(&mut start[read..])? {
                        0 => break,
                        n => read += n,
                    }
                }
                if start[..read] != *BOM {
                    file.seek(SeekFrom::Start(0))?;
                }
                Ok(Box::new(BufReader::new(file)))
            }
        }
    }
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
        MailboxUsageReport {
            csv: Spool::Memory(csv),
            request_id,
        }
    }

    /// A report downloaded into `csv`.
    pub(crate) fn from_spool(csv: Spool, request_id: Option<String>) -> Self {
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
            .reader()
            .map_err(|e| self.bad(format!("the downloaded report cannot be read: {e}")))?;
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
    fn given_a_report_downloaded_into_a_temporary_file_when_read_twice_then_each_read_has_every_row()
     {
        // GIVEN a report with a byte order mark, written in two pieces into a spool
        let mut spool = Spool::new();
        assert!(matches!(spool, Spool::File(_)), "no temporary file");
        let write = |spool: &mut Spool, text: &str| {
            if let Err(e) = spool.write(text.as_bytes()) {
                panic!("{e}");
            }
        };
        write(
            &mut spool,
            "\u{feff}User Principal Name,Item Count\nada@contoso.com,1",
        );
        write(&mut spool, "2\nbob@contoso.com,7\n");
        let report = MailboxUsageReport::from_spool(spool, None);
        // WHEN its rows are read twice
        for _ in 0..2 {
            let rows: Result<Vec<_>, _> = report.rows().and_then(|r| r.collect());
            // THEN both reads start at the first row, past the mark
            let rows = rows.unwrap_or_else(|e| panic!("{e}"));
            let read: Vec<_> = rows
                .iter()
                .map(|r| (r.user_principal_name.as_str(), r.item_count))
                .collect();
            assert_eq!(
                read,
                [("ada@contoso.com", Some(12)), ("bob@contoso.com", Some(7))]
            );
        }
    }

    #[test]
    fn given_csv_without_upn_column_when_read_then_error_not_panic() {
        let report = MailboxUsageReport::from_csv(b"a,b\n1,2\n".to_vec(), None);
        assert!(report.rows().is_err());
    }
}
