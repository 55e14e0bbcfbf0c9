"""The school spreadsheet, the write-back paint and the master as Sheets batchUpdate requests."""
