using System.Globalization;
using System.Text.Json;

namespace AspireCache.Bench;

/// <summary>The text table and the JSON file of a <see cref="BenchResult"/>.</summary>
public static class ResultWriter
{
    public static void WriteTable(BenchResult result, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(output);
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine();
        output.WriteLine($"== {result.Options.Label ?? "result"}: {result.Options.Describe()}");
        if (result.Options.Preload)
        {
            output.WriteLine(string.Create(inv, $"preload: {result.PreloadSeconds:0.0} s, {result.PreloadErrors} errors"));
        }

        output.WriteLine(string.Create(
            inv,
            $"measured {result.ElapsedSeconds:0.00} s: {result.TotalOperations} ok operations, {result.TotalErrors} errors, throughput {result.Throughput:0} ops/s (load generator CPU {result.ClientCpuPercent:0}% of one core, {Environment.ProcessorCount} cores)"));
        output.WriteLine();
        output.WriteLine(string.Create(
            inv,
            $"{"op",-6} {"ok",10} {"ops/s",10} {"errors",8} {"miss",8} {"p50 ms",9} {"p90 ms",9} {"p99 ms",9} {"p99.9 ms",9} {"max ms",9}"));
        foreach (var op in new[] { result.Operations["read"], result.Operations["write"], result.Total })
        {
            if (op.Count == 0 && op.Errors == 0 && op.Name != "total")
            {
                continue;
            }

            output.WriteLine(string.Create(
                inv,
                $"{op.Name,-6} {op.Count,10} {op.Throughput,10:0} {op.Errors,8} {op.Misses,8} {op.P50Ms,9:0.000} {op.P90Ms,9:0.000} {op.P99Ms,9:0.000} {op.P999Ms,9:0.000} {op.MaxMs,9:0.0}"));
        }

        output.WriteLine();
        if (result.Errors.Count == 0)
        {
            output.WriteLine("errors: none");
        }
        else
        {
            output.WriteLine("errors:");
            foreach (var (kind, count) in result.Errors.OrderByDescending(e => e.Value))
            {
                output.WriteLine(string.Create(inv, $"  {count,10}  {kind}"));
            }
        }

        if (result.ClientRetries.Count > 0)
        {
            output.WriteLine("client retries (attempts after the first inside a call; not errors):");
            foreach (var (kind, count) in result.ClientRetries.OrderByDescending(e => e.Value))
            {
                output.WriteLine(string.Create(inv, $"  {count,10}  {kind}"));
            }
        }

        if (result.Failover is { } f)
        {
            output.WriteLine();
            output.WriteLine("failover:");
            output.WriteLine(string.Create(inv, $"  writers / readers:             {f.Writers} / {f.Readers}"));
            output.WriteLine(string.Create(inv, $"  writes acknowledged / failed:  {f.WritesAcknowledged} / {f.WritesFailed}"));
            output.WriteLine(string.Create(inv, $"  reads ok / failed:             {f.ReadsSucceeded} / {f.ReadsFailed}"));
            output.WriteLine(string.Create(inv, $"  longest gap without a write:   {f.LongestWriteGapMs:0} ms (from t={f.LongestWriteGapStartSeconds:0.000} s, unix ms {f.LongestWriteGapStartUnixMs})"));
            output.WriteLine(string.Create(inv, $"  longest gap without a read:    {f.LongestReadGapMs:0} ms (from t={f.LongestReadGapStartSeconds:0.000} s, unix ms {f.LongestReadGapStartUnixMs})"));
            output.WriteLine(string.Create(inv, $"  stale linearizable reads:      {f.StaleReads}"));
            output.WriteLine(string.Create(inv, $"  keys verified at the end:      {f.KeysVerified} in {f.VerifySeconds:0.0} s ({f.KeysUnverified} unreadable)"));
            output.WriteLine(string.Create(inv, $"  LOST WRITES:                   {f.LostWrites}"));
            output.WriteLine(string.Create(inv, $"  failed writes applied anyway:  {f.UnacknowledgedWritesApplied} (allowed: outcome unknown)"));
            foreach (var example in f.Examples)
            {
                output.WriteLine("  " + example);
            }
        }
    }

    public static async Task WriteJsonAsync(BenchResult result, string path, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(result);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await using var stream = File.Create(path);
        await using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        WriteJson(result, json);
        await json.FlushAsync(token);
    }

    public static void WriteJson(BenchResult result, Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(json);
        var o = result.Options;
        json.WriteStartObject();
        if (o.Label is not null)
        {
            json.WriteString("label", o.Label);
        }

        json.WriteStartObject("options");
        json.WriteString("system", o.System.ToString().ToLowerInvariant());
        json.WriteString("mode", o.Mode.ToString().ToLowerInvariant());
        json.WriteStartArray("targets");
        foreach (var t in o.Targets)
        {
            json.WriteStringValue(t.ToString());
        }

        json.WriteEndArray();
        json.WriteNumber("connections", o.Connections);
        json.WriteNumber("durationSeconds", o.Duration.TotalSeconds);
        json.WriteNumber("warmupSeconds", o.Warmup.TotalSeconds);
        json.WriteNumber("readFraction", o.ReadFraction);
        json.WriteNumber("keys", o.Keys);
        json.WriteString("distribution", o.Distribution.ToString().ToLowerInvariant());
        json.WriteNumber("zipfS", o.ZipfS);
        json.WriteNumber("valueSize", o.ValueSize);
        json.WriteString("consistency", o.Consistency.ToString().ToLowerInvariant());
        json.WriteString("client", o.System == BenchSystem.Etcd ? "raw" : o.EffectiveClient.ToString().ToLowerInvariant());
        json.WriteBoolean("auth", o.AspireCacheCredential is not null);
        json.WriteBoolean("preload", o.Preload);
        json.WriteEndObject();

        json.WriteNumber("elapsedSeconds", Round(result.ElapsedSeconds));
        json.WriteNumber("throughput", Round(result.Throughput));
        json.WriteNumber("totalOperations", result.TotalOperations);
        json.WriteNumber("totalErrors", result.TotalErrors);
        json.WriteNumber("clientCpuPercent", Round(result.ClientCpuPercent));
        json.WriteNumber("processorCount", Environment.ProcessorCount);
        json.WriteNumber("preloadSeconds", Round(result.PreloadSeconds));
        json.WriteNumber("preloadErrors", result.PreloadErrors);

        json.WriteStartObject("operations");
        foreach (var (name, op) in result.Operations)
        {
            json.WritePropertyName(name);
            WriteOp(op, json);
        }

        json.WriteEndObject();
        json.WritePropertyName("total");
        WriteOp(result.Total, json);

        json.WriteStartObject("errors");
        foreach (var (kind, count) in result.Errors)
        {
            json.WriteNumber(kind, count);
        }

        json.WriteEndObject();

        json.WriteStartObject("clientRetries");
        foreach (var (kind, count) in result.ClientRetries)
        {
            json.WriteNumber(kind, count);
        }

        json.WriteEndObject();

        if (result.Failover is { } f)
        {
            json.WriteStartObject("failover");
            json.WriteNumber("writers", f.Writers);
            json.WriteNumber("readers", f.Readers);
            json.WriteNumber("writesAcknowledged", f.WritesAcknowledged);
            json.WriteNumber("writesFailed", f.WritesFailed);
            json.WriteNumber("readsSucceeded", f.ReadsSucceeded);
            json.WriteNumber("readsFailed", f.ReadsFailed);
            json.WriteNumber("longestWriteGapMs", Round(f.LongestWriteGapMs));
            json.WriteNumber("longestWriteGapStartSeconds", Round(f.LongestWriteGapStartSeconds));
            json.WriteNumber("longestWriteGapStartUnixMs", f.LongestWriteGapStartUnixMs);
            json.WriteNumber("longestReadGapMs", Round(f.LongestReadGapMs));
            json.WriteNumber("longestReadGapStartSeconds", Round(f.LongestReadGapStartSeconds));
            json.WriteNumber("longestReadGapStartUnixMs", f.LongestReadGapStartUnixMs);
            json.WriteNumber("staleReads", f.StaleReads);
            json.WriteNumber("keysVerified", f.KeysVerified);
            json.WriteNumber("lostWrites", f.LostWrites);
            json.WriteNumber("unacknowledgedWritesApplied", f.UnacknowledgedWritesApplied);
            json.WriteNumber("keysUnverified", f.KeysUnverified);
            json.WriteNumber("verifySeconds", Round(f.VerifySeconds));
            json.WriteStartArray("examples");
            foreach (var e in f.Examples)
            {
                json.WriteStringValue(e);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    private static void WriteOp(OperationStats op, Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteNumber("count", op.Count);
        json.WriteNumber("errors", op.Errors);
        json.WriteNumber("throughput", Round(op.Throughput));
        json.WriteNumber("hits", op.Hits);
        json.WriteNumber("misses", op.Misses);
        json.WriteNumber("meanMs", Round(op.MeanMs));
        json.WriteNumber("p50Ms", Round(op.P50Ms));
        json.WriteNumber("p90Ms", Round(op.P90Ms));
        json.WriteNumber("p99Ms", Round(op.P99Ms));
        json.WriteNumber("p999Ms", Round(op.P999Ms));
        json.WriteNumber("maxMs", Round(op.MaxMs));
        json.WriteEndObject();
    }

    private static double Round(double value) => Math.Round(value, 3);
}
