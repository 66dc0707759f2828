-- Shared by every named query: one row per conversation from the conversation.completed records.
WITH completed AS (
    -- One row per conversation: Firehose delivers at least once, so a record may be stored twice.
    SELECT *
    FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.conversationid) AS copy_number
        FROM conversations AS c
        WHERE c.type = 'conversation.completed'
    ) AS numbered
    WHERE copy_number = 1
)
