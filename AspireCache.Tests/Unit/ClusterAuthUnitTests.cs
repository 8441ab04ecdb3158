using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using System.Text;
using AspireCache.Node.Auth;

namespace AspireCache.Tests.Unit;

public sealed class ClusterAuthUnitTests
{
    [Fact]
    public void The_nonce_cache_refuses_replays_and_when_full_refuses_rather_than_forgets()
    {
        var cache = new NonceCache(capacity: 1_000);
        const long now = 1_000_000;
        Assert.Equal(NonceResult.Added, cache.TryAdd(1, now + 30_000, now));
        Assert.Equal(NonceResult.Replayed, cache.TryAdd(1, now + 30_000, now));
        for (UInt128 n = 2; n <= 1_000; n++)
        {
            Assert.Equal(NonceResult.Added, cache.TryAdd(n, now + 30_000, now));
        }

        Assert.Equal(NonceResult.Full, cache.TryAdd(5_000, now + 30_000, now + 1));
        Assert.Equal(NonceResult.Replayed, cache.TryAdd(7, now + 30_000, now + 1)); // a replay stays a replay when full
        Assert.Equal(1_000, cache.Count);

        // Once their timestamps left the window they are forgotten (the timestamp check refuses them
        // by itself), within the second of their bucket.
        Assert.Equal(NonceResult.Full, cache.TryAdd(5_000, now + 90_000, now + 30_001));
        Assert.Equal(NonceResult.Added, cache.TryAdd(5_000, now + 90_000, now + 31_000));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void A_flood_of_refusals_logs_the_first_of_each_reason_then_one_line_a_second_with_the_count_in_between()
    {
        var clock = new SteppedClock();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var log = new RefusalLog(clock, new AspireCache.Node.Diagnostics.NodeTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), NullLogger<RefusalLog>.Instance);

        Assert.True(log.ShouldLog("bad_signature", out var suppressed));
        Assert.Equal(0, suppressed);
        Assert.True(log.ShouldLog("replayed", out _)); // another reason has its own line at once
        for (var i = 0; i < 10_000; i++)
        {
            Assert.False(log.ShouldLog("bad_signature", out _));
        }

        clock.Advance(RefusalLog.Interval);
        Assert.True(log.ShouldLog("bad_signature", out suppressed));
        Assert.Equal(10_000, suppressed);
        Assert.False(log.ShouldLog("bad_signature", out _));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("v2 ts=1;nonce=AAAAAAAAAAAAAAAAAAAAAA;sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("v1 ts=-1;nonce=AAAAAAAAAAAAAAAAAAAAAA;sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("v1 ts=1;nonce=AAAA;sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("v1 ts=1;nonce=AAAAAAAAAAAAAAAAAAAAAA;sig=short")]
    [InlineData("v1 ts=1;nonce=AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("v1 ts=1;nonce=AAAAAAAAAAAAAAAAAAAAAA;sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+;x=1")]
    public void Malformed_headers_do_not_parse(string? header) =>
        Assert.False(ClusterSignature.TryParse(header, out _, out _, out _));

    [Fact]
    public void The_signature_covers_method_target_time_nonce_length_and_Raft_headers_in_any_order()
    {
        var key = Encoding.UTF8.GetBytes("0123456789abcdef0123");
        KeyValuePair<string, string>[] headers = [new("X-Raft-Term", "7"), new("X-Raft-Message-Type", "AppendEntries")];
        var sig = ClusterSignature.Compute(key, "POST", "/cluster-consensus/raft", 1, "n", "10", headers);
        Assert.Equal(sig, ClusterSignature.Compute(key, "post", "/cluster-consensus/raft", 1, "n", "10", [headers[1], new("x-raft-term", "7")]));
        Assert.NotEqual(sig, ClusterSignature.Compute(key, "PUT", "/cluster-consensus/raft", 1, "n", "10", headers));
        Assert.NotEqual(sig, ClusterSignature.Compute(key, "POST", "/cluster/access", 1, "n", "10", headers));
        Assert.NotEqual(sig, ClusterSignature.Compute(key, "POST", "/cluster-consensus/raft", 2, "n", "10", headers));
        Assert.NotEqual(sig, ClusterSignature.Compute(key, "POST", "/cluster-consensus/raft", 1, "m", "10", headers));
        Assert.NotEqual(sig, ClusterSignature.Compute(key, "POST", "/cluster-consensus/raft", 1, "n", "11", headers));
        Assert.NotEqual(sig, ClusterSignature.Compute(key, "POST", "/cluster-consensus/raft", 1, "n", "10", [new("X-Raft-Term", "8"), headers[1]]));
        Assert.NotEqual(sig, ClusterSignature.Compute(Encoding.UTF8.GetBytes("another-secret-0123"), "POST", "/cluster-consensus/raft", 1, "n", "10", headers));
        Assert.True(ClusterSignature.TryParse(ClusterSignature.Create(key, "POST", "/", 1, "AAAAAAAAAAAAAAAAAAAAAA", "0", headers), out var ts, out _, out var parsed));
        Assert.Equal(1, ts);
        Assert.Equal(32, parsed.Length);
    }
}
