"""AWS list prices, in one dated table: what `gcevents plan` bills a load with, and what the benchmark turns its
measurements into dollars with (`bench/prices.py` reads them from here).

US East (N. Virginia), on demand, no free tier, USD. Lambda, DynamoDB and SQS were read on 2026-11-27, the event
poller price with the planner's provisioned mode, EventBridge, CloudWatch Logs, Data Firehose and S3 added on
2026-12-07. Prices differ by region and change: re-check them on the AWS pricing pages before quoting a bill
(`gcevents plan --poller-price` overrides the poller price)."""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2026-12-07"  # the table as a whole (see above for each line)


@dataclass(frozen=True, slots=True)
class Price:
    usd: float
    per: str  # the unit the price is for, as the pricing page says it
    source: str  # the AWS pricing page


PRICES: dict[str, Price] = {
    # EventBridge: events a SaaS partner (Genesys) puts on a partner event bus.
    "eventbridge_partner_event": Price(1.00 / 1e6, "event", "aws.amazon.com/eventbridge/pricing"),
    # SQS standard queue; each 64 KB of a payload is one request.
    "sqs_request": Price(0.40 / 1e6, "request", "aws.amazon.com/sqs/pricing"),
    # Lambda on Arm (the template's architecture), first 7.5 billion GB-s a month.
    "lambda_gb_second": Price(0.0000133334, "GB-second", "aws.amazon.com/lambda/pricing"),
    "lambda_request": Price(0.20 / 1e6, "request", "aws.amazon.com/lambda/pricing"),
    # Lambda's provisioned poller mode for SQS: one event poller = one event poller unit (EPU).
    "event_poller_hour": Price(0.00925, "EPU-hour", "aws.amazon.com/lambda/pricing"),
    # DynamoDB on demand, Standard table class (the prices since the cut of 2024-11-01).
    "dynamodb_write_unit": Price(0.625 / 1e6, "write request unit", "aws.amazon.com/dynamodb/pricing/on-demand"),
    "dynamodb_read_unit": Price(0.125 / 1e6, "read request unit", "aws.amazon.com/dynamodb/pricing/on-demand"),
    # CloudWatch Logs, Standard log class: data ingested (Lambda's logs are vended logs; this is their first tier).
    "logs_ingested_gb": Price(0.50, "GB ingested", "aws.amazon.com/cloudwatch/pricing"),
    # Data Firehose, Direct PUT: ingested GB, each record rounded up to a multiple of 5 KB.
    "firehose_ingested_gb": Price(0.029, "GB ingested (5 KB per record at least)", "aws.amazon.com/firehose/pricing"),
    "s3_put_request": Price(0.005 / 1000, "PUT request", "aws.amazon.com/s3/pricing"),
    "s3_storage_gb_month": Price(0.023, "GB-month (S3 Standard)", "aws.amazon.com/s3/pricing"),
}


def usd(name: str) -> float:
    return PRICES[name].usd
