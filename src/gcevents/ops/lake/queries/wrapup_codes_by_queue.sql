-- Wrap-up code distribution by queue: how agents closed the conversations each queue handled.
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
