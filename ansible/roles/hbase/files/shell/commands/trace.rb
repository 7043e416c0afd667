# The lab's replacement for the `trace` command of the hbase-shell 2.4 Ruby sources.
#
# HBase 2.5 replaced HTrace with OpenTelemetry and removed the classes the 2.4 command
# loads (org.apache.hadoop.hbase.trace.SpanReceiverHost, org.apache.htrace.*), so the
# original file stops the whole shell from starting on the 2.6 jars. This file shadows
# it (hbase.ruby.sources comes first on the shell's load path) and keeps every other
# command working. Tracing in HBase 2.6 is configured through the OpenTelemetry agent.
module Shell
  module Commands
    class Trace < Command
      def help
        <<-HELP
HTrace-based tracing was removed in HBase 2.5; this lab runs HBase 2.6, which traces
through OpenTelemetry (configured with the OpenTelemetry Java agent, not the shell).
The command is kept only so that scripts calling it get a clear error.
HELP
      end

      def command(*_args)
        raise ArgumentError, 'trace is not available: HBase 2.6 traces through OpenTelemetry, not HTrace'
      end
    end
  end
end
