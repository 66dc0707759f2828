-- The conversations `gcevents reconcile` repaired: facts the event stream lost, rebuilt from Genesys analytics.
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
SELECT
    "date" AS day,
    conversationid AS conversation_id,
    conversation.mediatype AS media_type,
    conversation.starttime AS start_time,
    conversation.endtime AS end_time
FROM completed
WHERE conversation.reconciled = true
ORDER BY day, start_time, conversation_id
