-- Handle time (talk, hold, wrap-up) by queue and day: every agent participant of each conversation's completed record.
SELECT
    p.queueid AS queue_id,
    "date" AS day,
    count(DISTINCT conversationid) AS conversations,
    CAST(sum(coalesce(p.interactingdurationms, 0)) AS BIGINT) AS talk_ms,
    CAST(sum(coalesce(p.helddurationms, 0)) AS BIGINT) AS hold_ms,
    CAST(sum(coalesce(p.wrapupdurationms, 0)) AS BIGINT) AS acw_ms,
    CAST(
        sum(coalesce(p.interactingdurationms, 0) + coalesce(p.helddurationms, 0) + coalesce(p.wrapupdurationms, 0))
        AS BIGINT
    ) AS handle_ms
FROM completed
CROSS JOIN UNNEST(conversation.participants) AS t (p)
WHERE p.purpose IN ('agent', 'user')
GROUP BY p.queueid, "date"
ORDER BY day, queue_id
