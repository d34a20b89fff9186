-- An erasure tells every agency that ever received data about the person (GDPR
-- Art. 19): the records service reads who they were from the disclosure log and
-- writes one subject.erased event each, which routing copies into their feeds.
GRANT SELECT (subject_id, recipient_id) ON core.disclosure TO kinnet_records;
GRANT INSERT ON core.outbox TO kinnet_records;
GRANT USAGE ON SEQUENCE core.outbox_id_seq TO kinnet_records;
