-- Wrap-up code distribution by queue: how agents closed the conversations each queue handled.
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
    p.queueid AS queue_id,
    p.wrapupcode AS wrapup_code,
    count(*) AS participants,
    count(DISTINCT conversationid) AS conversations
FROM completed
CROSS JOIN UNNEST(conversation.participants) AS t (p)
WHERE p.purpose IN ('agent', 'user') AND p.wrapupcode IS NOT NULL
GROUP BY p.queueid, p.wrapupcode
ORDER BY queue_id, conversations DESC, wrapup_code
