using AspireCache.Node.StateMachine;
using AspireCache.Node.Watch;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;

namespace AspireCache.Tests.Watch;

/// <summary>The watch hub on its own: history bounds, fan-out by key and prefix, slow consumers, resets.</summary>
public sealed class WatchHubTests
{
    private static (WatchHub Hub, IChangeFeed Feed) Create(Action<WatchOptions>? configure = null)
    {
        var options = new WatchOptions();
        configure?.Invoke(options);
        var hub = new WatchHub(Options.Create(options), new WatchTelemetry(new TestMeterFactory()), "n1");
        IChangeFeed feed = hub;
        feed.Reset(0);
        return (hub, feed);
    }

    private static Change Put(string key, long revision, string value = "v") =>
        new(ChangeType.Put, key, revision, new CacheEntry(System.Text.Encoding.UTF8.GetBytes(value), revision, 0, 0));

    private static List<EventChunk> Drain(Watcher watcher)
    {
        var chunks = new List<EventChunk>();
        while (watcher.TryDequeue(out var chunk))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }

    /// <summary>
    /// The history queued at registration lies outside a stream's buffer bound (the history keeps it anyway); taking it
    /// off the queue must not uncount the live chunks behind it. Before, it did (the counts were clamped at 0), and a
    /// stream that resumed far back could hold its whole bound again on top of the live chunks it already held.
    /// </summary>
    [Fact]
    public void Taking_the_backlog_off_a_stream_leaves_its_live_chunks_counted_against_the_bound()
    {
        var watcher = new Watcher("w", ["k/"], [], true, 0, maxEvents: 3, maxBytes: long.MaxValue);
        watcher.EnqueueBacklog(new EventChunk(1, [.. Enumerable.Range(1, 5).Select(i => new WatchEvent(Put($"k/{i}", 1)))]));
        Assert.True(watcher.Enqueue(new EventChunk(2, [new WatchEvent(Put("k/a", 2)), new WatchEvent(Put("k/b", 2))])));

        Assert.True(watcher.TryDequeue(out var backlog));
        Assert.Equal(5, backlog.Events.Length);

        // Two live events are still queued: two more pass the bound of three only once they are taken.
        Assert.False(watcher.Enqueue(new EventChunk(3, [new WatchEvent(Put("k/c", 3)), new WatchEvent(Put("k/d", 3))])));
    }

    /// <summary>
    /// One log entry whose last revision is past its last change (a put at 10, then a batch that only deleted absent
    /// keys at 11): the history's head is 11, so a list answered after it (revision 11) is a valid resume point and a
    /// watch from there is not refused as ahead of the node. Before, the head stayed at 10 until the next change.
    /// </summary>
    [Fact]
    public void An_entry_that_ends_with_a_revision_that_changed_nothing_moves_the_head_to_it()
    {
        var (hub, feed) = Create();
        using var disposeHub = hub;

        feed.Applied([Put("a", 10)], 11);

        Assert.Equal(11, hub.HeadRevision);
    }

    [Fact]
    public async Task A_change_reaches_the_watchers_of_its_key_and_of_its_prefixes_and_no_one_else()
    {
        var (hub, feed) = Create();
        using var disposeHub = hub;
        Assert.Equal(RegisterOutcome.Registered, hub.Register(["app/"], [], true, 0, out var byPrefix));
        Assert.Equal(RegisterOutcome.Registered, hub.Register([], ["app/x"], true, 0, out var byKey));
        Assert.Equal(RegisterOutcome.Registered, hub.Register(["", "app/x"], [], true, 0, out var everything));
        Assert.Equal(RegisterOutcome.Registered, hub.Register(["other/"], ["app/y"], true, 0, out var unrelated));

        feed.Applied([Put("app/x", 1), Put("app/z", 1)], 1);
        await hub.WaitDispatchedAsync(1, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Single(Drain(byPrefix!)); // one hand-off per chunk, however many of its events match
        Assert.Single(Drain(byKey!));
        Assert.Single(Drain(everything!));
        Assert.Empty(Drain(unrelated!));
        Assert.Equal(4, hub.Count);
    }

    [Fact]
    public async Task Registering_queues_what_was_already_dispatched_after_the_resume_point_and_nothing_before()
    {
        var (hub, feed) = Create();
        using var disposeHub = hub;
        for (var r = 1; r <= 5; r++)
        {
            feed.Applied([Put($"k/{r}", r)], r);
        }

        await hub.WaitDispatchedAsync(5, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        hub.Register(["k/"], [], true, 3, out var watcher);
        feed.Applied([Put("k/6", 6)], 6);
        await hub.WaitDispatchedAsync(6, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));

        var revisions = Drain(watcher!).Select(c => c.LastRevision).ToArray();
        Assert.Equal([4L, 5, 6], revisions);
    }

    [Fact]
    public async Task A_resume_point_that_fell_off_the_bounded_history_is_refused_as_gone()
    {
        var (hub, feed) = Create(o => o.HistoryMaxEvents = 3);
        using var disposeHub = hub;
        for (var r = 1; r <= 10; r++)
        {
            feed.Applied([Put($"k/{r}", r)], r);
        }

        await hub.WaitDispatchedAsync(10, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(7, hub.OldestAcceptedRevision); // 8, 9, 10 kept
        Assert.Equal(RegisterOutcome.Gone, hub.Register(["k/"], [], true, 6, out _));
        Assert.Equal(RegisterOutcome.Registered, hub.Register(["k/"], [], true, 7, out var watcher));
        Assert.Equal([8L, 9, 10], Drain(watcher!).Select(c => c.LastRevision));
    }

    [Fact]
    public async Task A_watcher_that_is_not_drained_is_closed_as_slow_and_the_others_and_apply_go_on()
    {
        var (hub, feed) = Create(o => o.WatcherBufferEvents = 5);
        using var disposeHub = hub;
        hub.Register(["k/"], [], true, 0, out var slow);
        hub.Register(["k/"], [], true, 0, out var fast);
        var received = 0L;
        for (var r = 1; r <= 50; r++)
        {
            feed.Applied([Put($"k/{r}", r)], r); // never blocks, whatever the watchers do
            await hub.WaitDispatchedAsync(r, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
            received += Drain(fast!).Count;
        }

        Assert.Equal(CloseReason.SlowConsumer, slow!.Closed);
        Assert.True(slow.ClosedToken.IsCancellationRequested);
        Assert.Null(fast!.Closed);
        Assert.Equal(50, received);
        Assert.Equal(1, hub.Count);
    }

    [Fact]
    public async Task A_reset_closes_every_stream_and_the_history_restarts_at_the_new_revision()
    {
        var (hub, feed) = Create();
        using var disposeHub = hub;
        feed.Applied([Put("k/1", 1)], 1);
        hub.Register(["k/"], [], true, 0, out var watcher);
        feed.Reset(100);

        Assert.Equal(CloseReason.SnapshotInstalled, watcher!.Closed);
        Assert.Equal(0, hub.Count);
        Assert.Equal(100, hub.OldestAcceptedRevision);
        Assert.Equal(RegisterOutcome.Gone, hub.Register(["k/"], [], true, 1, out _));
        await hub.WaitDispatchedAsync(100, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Beyond_the_watcher_limit_a_new_stream_is_refused()
    {
        var (hub, _) = Create(o => o.MaxWatchers = 2);
        using var disposeHub = hub;
        Assert.Equal(RegisterOutcome.Registered, hub.Register(["a"], [], true, 0, out _));
        Assert.Equal(RegisterOutcome.Registered, hub.Register(["a"], [], true, 0, out var second));
        Assert.Equal(RegisterOutcome.Full, hub.Register(["a"], [], true, 0, out _));
        hub.Unregister(second!);
        Assert.Equal(RegisterOutcome.Registered, hub.Register(["a"], [], true, 0, out _));
    }

    [Fact]
    public void An_event_frame_is_encoded_once_and_shared()
    {
        var e = new WatchEvent(new Change(ChangeType.Put, "app/配置", 7, new CacheEntry("hi"u8.ToArray(), 7, 0, 0, ExpiresUnixMs: 1_700_000_000_000)));
        var first = e.Frame(true).ToArray();
        Assert.True(System.Runtime.CompilerServices.Unsafe.AreSame(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(e.Frame(true)), ref System.Runtime.InteropServices.MemoryMarshal.GetReference(e.Frame(true))));
        var text = System.Text.Encoding.UTF8.GetString(first);
        Assert.Equal("event: put\ndata: {\"type\":\"put\",\"key\":\"app/配置\",\"revision\":7,\"value\":\"aGk=\",\"size\":2,\"expiresAt\":\"2023-11-14T22:13:20+00:00\"}\n", text);
        Assert.DoesNotContain("value", System.Text.Encoding.UTF8.GetString(e.Frame(false)));
    }
}

/// <summary>Meters for components under test, outside a host.</summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    public Meter Create(MeterOptions options) => new(options);

    public void Dispose()
    {
    }
}
