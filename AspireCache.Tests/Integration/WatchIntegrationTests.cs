using System.Diagnostics;
using System.Globalization;
using AspireCache.Tests.Watch;
using Aspire.Hosting;
using Aspire.Hosting.Testing;

namespace AspireCache.Tests.Integration;

/// <summary>Watch as the AppHost runs it: through the router, which multiplexes streams over HTTP/2 to the nodes.</summary>
[Collection(AspireCollection.Name)]
public sealed class WatchIntegrationTests(AspireAppFixture fixture)
{
    private const int Streams = 300;

    [Fact]
    public async Task Streams_through_the_router_share_a_few_HTTP2_connections_to_the_nodes_and_all_see_a_write()
    {
        using var client = fixture.NewClient(fixture.App.GetEndpoint("router", "http"));
        client.Timeout = Timeout.InfiniteTimeSpan;
        var streams = new List<SseStream>();
        try
        {
            for (var i = 0; i < Streams; i++)
            {
                var stream = await SseStream.OpenAsync(client, "/cache/watch?key=it/watch/x&values=false");
                Assert.Equal("progress", (await stream.NextAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token))!.Type);
                streams.Add(stream);
            }

            // Router → node connections on the nodes' HTTP/2 endpoints: a handful, not one per stream.
            var http2Ports = AspireAppFixture.Nodes.Select(n => fixture.App.GetEndpoint(n, "h2").Port).ToHashSet();
            var connections = EstablishedConnectionsTo(http2Ports);
            Assert.InRange(connections, 1, 9);

            var elapsed = Stopwatch.StartNew();
            using var put = await fixture.Router.PutAsync("/cache/it/watch/x", new StringContent("pushed"));
            put.EnsureSuccessStatusCode();
            var acknowledged = elapsed.Elapsed;
            var revision = put.Headers.ETag!.Tag.Trim('"');
            await Task.WhenAll(streams.Select(s => s.ReadUntilAsync(e => e.Type == "put" && e.Id == revision, TimeSpan.FromSeconds(30))));
            Console.WriteLine($"watch: {Streams} streams through the router over {connections} HTTP/2 connections; write acknowledged after {acknowledged.TotalMilliseconds:0} ms, seen by all after {elapsed.Elapsed.TotalMilliseconds:0} ms");
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }
    }

    /// <summary>Client-side TCP connections in ESTABLISHED state whose remote port is one of <paramref name="ports"/> (Linux /proc/net).</summary>
    private static int EstablishedConnectionsTo(HashSet<int> ports)
    {
        var count = 0;
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }

            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var remotePort = int.Parse(fields[2][(fields[2].LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (fields[3] == "01" && ports.Contains(remotePort))
                {
                    count++;
                }
            }
        }

        return count;
    }
}
