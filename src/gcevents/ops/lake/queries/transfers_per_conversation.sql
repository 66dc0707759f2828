-- Transfers per conversation: how many conversations saw 0, 1, 2, ... agent participants leave by transfer.
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
