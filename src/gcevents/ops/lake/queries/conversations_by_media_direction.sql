-- Conversations by media type and direction, per day.
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
    conversation.mediatype AS media_type,
    conversation.direction AS direction,
    count(*) AS conversations,
    CAST(avg(conversation.durationms) AS BIGINT) AS avg_duration_ms
FROM completed
GROUP BY "date", conversation.mediatype, conversation.direction
ORDER BY day, media_type, direction
