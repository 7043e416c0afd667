"""A Spark job for the smoke test: read a CSV from HDFS, write it back as Parquet, count it."""

import sys

from pyspark.sql import SparkSession

source, target = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.appName("smoke-csv-to-parquet").getOrCreate()
frame = spark.read.option("header", True).option("inferSchema", True).csv(source)
frame.write.mode("overwrite").parquet(target)
back = spark.read.parquet(target)
print(f"ROWS={back.count()} REVENUE={back.groupBy().sum('price').first()[0]:.2f} MASTER={spark.sparkContext.master}")
spark.stop()
