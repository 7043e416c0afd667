"""The reference pipeline, one module per stage, in data-path order:

settings -> contract -> produce (CSV -> Kafka) -> hbase_sink (Kafka -> HBase) and
landing (Kafka -> HDFS raw zone) -> clean (Spark) -> analyze (Spark SQL) -> realtime
(Structured Streaming -> HBase).
"""
