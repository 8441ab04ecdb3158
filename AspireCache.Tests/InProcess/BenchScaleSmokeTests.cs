using System.Buffers.Binary;
using System.Text.Json;
using AspireCache.Bench;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// The bench tool's <c>--api-key</c> and the pieces of bench/scale.sh (load-mode JSON → results file →
/// chart mode's table and PNGs), end to end on a tiny run; real numbers come from bench/.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class BenchScaleSmokeTests
{
    [Fact]
    public async Task With_an_api_key_runs_against_a_cluster_with_auth_succeed_and_chart_mode_draws_their_sweep()
    {
        // Authentication on (the fixture's default credentials), as under the AppHost.
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);
        var key = InProcessCluster.DefaultAdminKey;

        // Without the key every request is refused; with it, raw and library clients run without errors.
        var refused = await BenchRunner.RunAsync(Options(router.Url, connections: 2, valueSize: 64, reads: false, apiKey: null), TextWriter.Null, CancellationToken.None);
        Assert.Equal(0, refused.TotalOperations);
        Assert.Contains(refused.Errors.Keys, k => k.StartsWith("HTTP 401", StringComparison.Ordinal));
        var library = Options(router.Url, connections: 2, valueSize: 64, reads: true, apiKey: key);
        library.Client = ClientKind.Library;
        var viaLibrary = await BenchRunner.RunAsync(library, TextWriter.Null, CancellationToken.None);
        Assert.Equal(0, viaLibrary.TotalErrors);
        Assert.True(viaLibrary.TotalOperations > 0);

        // A tiny sweep: connections 1, 2 at 64-byte values; 64 and 256 bytes at 2 connections; writes and reads.
        var runs = new List<BenchResult>();
        foreach (var (connections, valueSize) in new[] { (1, 64), (2, 64), (2, 256) })
        {
            foreach (var reads in new[] { false, true })
            {
                var result = await BenchRunner.RunAsync(Options(router.Url, connections, valueSize, reads, key), TextWriter.Null, CancellationToken.None);
                Assert.Equal(0, result.TotalErrors);
                Assert.True(result.TotalOperations > 0, $"no operation at {connections} connections, {valueSize} B, reads={reads}");
                runs.Add(result);
            }
        }

        var directory = Directory.CreateTempSubdirectory("bench-scale-smoke-");
        try
        {
            var input = Path.Combine(directory.FullName, "results.json");
            await using (var stream = File.Create(input))
            await using (var json = new Utf8JsonWriter(stream))
            {
                json.WriteStartObject();
                json.WriteNumber("fixedValueSize", 64);
                json.WriteNumber("fixedConnections", 2);
                json.WriteString("note", "smoke");
                json.WriteStartArray("runs");
                foreach (var run in runs)
                {
                    ResultWriter.WriteJson(run, json);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            var output = new StringWriter();
            var written = Charts.Render(input, Path.Combine(directory.FullName, "charts"), output);

            Assert.Equal(5, written.Count);
            foreach (var name in new[] { Charts.ThroughputVsConnections, Charts.P99VsConnections, Charts.ThroughputVsValueSize, Charts.P99VsValueSize })
            {
                var png = await File.ReadAllBytesAsync(Path.Combine(directory.FullName, "charts", name));
                Assert.True(png.Length > 5_000, $"{name}: {png.Length} bytes");
                Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
                Assert.Equal(Charts.Width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
                Assert.Equal(Charts.Height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
            }

            var table = await File.ReadAllTextAsync(Path.Combine(directory.FullName, "charts", Charts.TableFile));
            Assert.Equal(table, output.ToString());
            Assert.Contains("#### Connections sweep (64 B values): writes", table, StringComparison.Ordinal);
            Assert.Contains("#### Value-size sweep (2 connections): linearizable reads", table, StringComparison.Ordinal);
            Assert.Contains("| 256 B |", table, StringComparison.Ordinal);
            var results = Charts.Load(input);
            Assert.Equal(2, Charts.ConnectionsSweep(results).Count(p => p.Workload == "writes"));
            Assert.Equal(2, Charts.ValueSizeSweep(results).Count(p => p.Workload == "linearizable reads"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void The_api_key_is_one_default_bearer_header_for_AspireCache_and_never_sent_to_etcd()
    {
        var options = BenchOptions.Parse(["--target", "http://127.0.0.1:1", "--api-key", "k-0123456789abcdef"]);
        Assert.Equal("k-0123456789abcdef", options.ApiKey);
        Assert.Contains("auth=bearer", options.Describe(), StringComparison.Ordinal);

        using var aspireCache = new HttpClient();
        BenchRunner.Authorize(aspireCache, options);
        Assert.Equal(new[] { "Bearer k-0123456789abcdef" }, aspireCache.DefaultRequestHeaders.GetValues("Authorization"));

        options.System = BenchSystem.Etcd;
        using var etcd = new HttpClient();
        BenchRunner.Authorize(etcd, options);
        Assert.False(etcd.DefaultRequestHeaders.Contains("Authorization"));
        Assert.DoesNotContain("auth=", options.Describe(), StringComparison.Ordinal);

        Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--api-key", "two words"]));
        Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--mode", "chart"]));
        Assert.Equal(BenchMode.Chart, BenchOptions.Parse(["--mode", "chart", "--input", "r.json"]).Mode);
    }

    private static BenchOptions Options(Uri target, int connections, int valueSize, bool reads, string? apiKey) => new()
    {
        Targets = [target],
        Connections = connections,
        Duration = TimeSpan.FromMilliseconds(600),
        Warmup = TimeSpan.FromMilliseconds(150),
        ReadFraction = reads ? 1 : 0,
        MixSpecified = true,
        Keys = 20,
        ValueSize = valueSize,
        Preload = reads,
        KeyPrefix = $"bench-scale/v{valueSize}/",
        ApiKey = apiKey,
    };
}
