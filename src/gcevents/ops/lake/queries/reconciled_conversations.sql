-- The conversations `gcevents reconcile` repaired: facts the event stream lost, rebuilt from Genesys analytics.
SELECT
    "date" AS day,
    conversationid AS conversation_id,
    conversation.mediatype AS media_type,
    conversation.starttime AS start_time,
    conversation.endtime AS end_time
FROM completed
WHERE conversation.reconciled = true
ORDER BY day, start_time, conversation_id
