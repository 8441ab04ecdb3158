using System.Diagnostics;
using System.Net;

namespace AspireCache.Tests.InProcess;

/// <summary>A body the router will not forward is refused at once, never turned into a retried "outage".</summary>
[Collection(InProcessCollection.Name)]
public sealed class RouterLimitsTests
{
    [Fact]
    public async Task A_20_MB_chunked_PUT_through_the_router_answers_413_at_once_and_writes_nothing()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);
        using var client = router.Client();
        var before = (await cluster.StatusAsync(0)).Revision;

        // Over the router's 16 MiB bound by 256 KiB: the 20 MB body left 4 MB unsent when the
        // router answered, and the client's send then broke (EPIPE) before it read the 413 on a busy
        // box; a small excess is drained by Kestrel, so the test sees the answer every time.
        var chunked = new HttpRequestMessage(HttpMethod.Put, "/cache/too/big") { Content = new StreamContent(new NoLengthStream((16 * 1024 * 1024) + (256 * 1024))) };
        chunked.Headers.TransferEncodingChunked = true;
        var elapsed = Stopwatch.StartNew();
        using var refused = await client.SendAsync(chunked);
        elapsed.Stop();

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode); // was 503 after 5 s of retries
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(4), $"took {elapsed.Elapsed}");

        using var declared = await client.PutAsync("/cache/too/big", new ByteArrayContent(new byte[17 * 1024 * 1024]));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);

        using var absent = await client.GetAsync("/cache/too/big");
        Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
        Assert.Equal(before, (await cluster.StatusAsync(0)).Revision);
    }

    /// <summary>A body of a given size whose length is not known up front (sent chunked).</summary>
    private sealed class NoLengthStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            Array.Fill(buffer, (byte)'x', offset, n);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
