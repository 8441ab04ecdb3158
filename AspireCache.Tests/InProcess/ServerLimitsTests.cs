using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace AspireCache.Tests.InProcess;

/// <summary>#13: a client that sends its request headers slowly (slow loris) is cut off after 10 s, not Kestrel's 30 s.</summary>
[Collection(InProcessCollection.Name)]
public sealed class ServerLimitsTests
{
    [Fact]
    public async Task A_slow_loris_client_is_cut_off_by_the_router_and_by_a_node_after_the_header_timeout()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);

        var cut = await Task.WhenAll(SlowLorisAsync(router.Url), SlowLorisAsync(cluster.Urls[0]));

        Assert.All(cut, elapsed => Assert.InRange(elapsed, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(20)));
    }

    /// <summary>Opens a connection, sends half a request line and one header, then a byte per second; returns when the server closes.</summary>
    private static async Task<TimeSpan> SlowLorisAsync(Uri server)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(server.Host, server.Port);
        var stream = socket.GetStream();
        var started = Stopwatch.StartNew();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /cache/slow HTTP/1.1\r\nHost: x\r\nX-Slow: "));
        var buffer = new byte[1024];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        var read = stream.ReadAsync(buffer, deadline.Token).AsTask(); // one read: completes when the server answers or closes
        while (!deadline.IsCancellationRequested)
        {
            if (await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(1), deadline.Token)) == read)
            {
                try
                {
                    await read; // 0 bytes (closed) or a 408 answer before the close: either way the server gave up on us
                }
                catch (IOException)
                {
                }

                return started.Elapsed;
            }

            try
            {
                await stream.WriteAsync("a"u8.ToArray(), deadline.Token);
            }
            catch (IOException)
            {
                return started.Elapsed;
            }
        }

        return started.Elapsed;
    }
}
