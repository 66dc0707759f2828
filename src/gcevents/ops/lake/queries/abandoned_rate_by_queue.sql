-- Abandoned rate by queue: the share of queued conversations whose ACD outcome was ABANDON.
SELECT
    p.queueid AS queue_id,
    count(DISTINCT conversationid) AS queued,
    count(DISTINCT CASE WHEN p.acdoutcome = 'ABANDON' THEN conversationid END) AS abandoned,
    round(
        100.0 * count(DISTINCT CASE WHEN p.acdoutcome = 'ABANDON' THEN conversationid END)
        / count(DISTINCT conversationid),
        2
    ) AS abandoned_pct
FROM completed
CROSS JOIN UNNEST(conversation.participants) AS t (p)
WHERE p.acdoutcome IS NOT NULL
GROUP BY p.queueid
ORDER BY queue_id
