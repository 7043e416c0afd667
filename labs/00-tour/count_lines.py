"""Lab 00: a first Spark job — count the lines of a file in HDFS, on the lab's Spark cluster.

    spark-submit labs/00-tour/count_lines.py /ecommerce/$USER/tour/mine.csv

spark-submit sends this program to the Spark master named in /etc/spark/spark-defaults.conf; the master
gives it an executor on the worker, which reads the file's blocks from HDFS. Nothing to edit here.
"""

import getpass
import sys

from pyspark.sql import SparkSession

path = sys.argv[1]
spark = SparkSession.builder.appName(f"{getpass.getuser()}:tour").getOrCreate()
lines = spark.read.text(path)  # a DataFrame with one row per line of the file
print(f"{path}: {lines.count()} lines")
spark.stop()
