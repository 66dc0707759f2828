"""The test kit: fakes of every port, the Genesys Cloud API simulator, the synthetic workload, a queue with SQS
semantics and a moto server for tests, benchmarks and the demo.

Never imported by the Lambda path and never shipped in the Lambda artifact. Modules:
- `gcevents.testing.fakes`: memory idempotency/state stores, dead letters, enricher, a fake clock
- `gcevents.testing.genesys`: the Genesys Cloud API simulator (a real HTTP server on 127.0.0.1)
- `gcevents.testing.workload`: realistic conversation lifecycles as EventBridge envelopes, spikes with re-sends
- `gcevents.testing.queue`: one queue with SQS semantics: worker event source, Lambda event source mapping
  batches with partial-failure settlement, and the boto3 calls of the requeuer
- `gcevents.testing.moto`: moto's server with DynamoDB requests applied one at a time (needs `moto[server]`)
"""
