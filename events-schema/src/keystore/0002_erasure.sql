-- Erasure by crypto-shredding (PIPL Art. 47): command-service destroys a subject's data
-- keys in the same transaction that records her erasure.
GRANT DELETE ON keys.subject_keys TO belle_command;
