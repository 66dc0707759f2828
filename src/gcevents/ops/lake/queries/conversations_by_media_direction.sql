-- Conversations by media type and direction, per day.
SELECT
    "date" AS day,
    conversation.mediatype AS media_type,
    conversation.direction AS direction,
    count(*) AS conversations,
    CAST(avg(conversation.durationms) AS BIGINT) AS avg_duration_ms
FROM completed
GROUP BY "date", conversation.mediatype, conversation.direction
ORDER BY day, media_type, direction
