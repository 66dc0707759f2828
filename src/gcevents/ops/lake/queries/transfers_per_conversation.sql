-- Transfers per conversation: how many conversations saw 0, 1, 2, ... agent participants leave by transfer.
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
SELECT transfers, count(*) AS conversations
FROM (
    SELECT
        conversationid,
        sum(CASE WHEN p.purpose IN ('agent', 'user') AND p.disconnecttype = 'transfer' THEN 1 ELSE 0 END) AS transfers
    FROM completed
    CROSS JOIN UNNEST(conversation.participants) AS t (p)
    GROUP BY conversationid
) AS per_conversation
GROUP BY transfers
ORDER BY transfers
