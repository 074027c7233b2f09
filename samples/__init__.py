"""Sample data: the batch generator (inbox files, DynamoDB tables) and the stream simulator
(Kinesis producer). Used by the command line, the demo, the benchmarks and the tests only."""
