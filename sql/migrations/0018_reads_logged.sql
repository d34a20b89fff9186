-- Every read of personal data is on the disclosure log (issue 14, item 4): the
-- reporting service writes one row for each subject access export, in the same
-- transaction as the export's audit row, on the primary.
GRANT INSERT ON core.disclosure TO kinnet_reporting;
GRANT USAGE ON SEQUENCE core.disclosure_id_seq TO kinnet_reporting;
