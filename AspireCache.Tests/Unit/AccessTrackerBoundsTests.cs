using AspireCache.Node.Eviction;

namespace AspireCache.Tests.Unit;

/// <summary>
/// Issue #15: the LRU access table only holds keys the state holds, drops deleted ones, has a
/// bound, and a follower keeps nothing but its next (bounded) report.
/// </summary>
public sealed class AccessTrackerBoundsTests
{
    private readonly HashSet<string> _state = new(StringComparer.Ordinal);
    private bool _leader = true;

    private AccessTracker Tracker(int maxTracked = 1000, int maxUnreported = 1000) =>
        new(key => _state.TryGetValue(key, out var actual) ? actual : null, () => _leader, maxTracked, maxUnreported);

    [Fact]
    public void Reported_keys_the_state_does_not_hold_are_not_tracked()
    {
        _state.Add("real");
        var tracker = Tracker();

        tracker.Touch(["real", .. Enumerable.Range(0, 10_000).Select(i => "made-up-" + i)], 1_000);
        tracker.Touch("also-made-up", 1_000);

        Assert.Equal(1, tracker.Count);
        Assert.Equal(1_000, tracker.LastAccess("real", 0));
        Assert.Equal(-1, tracker.LastAccess("made-up-1", -1));
    }

    [Fact]
    public void Keys_removed_from_the_state_leave_the_table()
    {
        _state.UnionWith(["a", "b", "c"]);
        var tracker = Tracker();
        tracker.Touch("a", 10);
        tracker.Touch(["b", "c"], 20);
        _state.Remove("b");

        tracker.Maintain();

        Assert.Equal(2, tracker.Count);
        Assert.Equal(-1, tracker.LastAccess("b", -1));
        Assert.Equal(10, tracker.LastAccess("a", 0));
    }

    [Fact]
    public void A_sweep_with_a_small_budget_still_reaches_every_key_over_successive_calls()
    {
        _state.UnionWith(Enumerable.Range(0, 100).Select(i => "k" + i));
        var tracker = Tracker();
        tracker.Touch(_state.ToList(), 5);
        _state.Clear();

        for (var i = 0; i < 12 && tracker.Count > 0; i++)
        {
            tracker.Maintain(sweepBudget: 10);
        }

        Assert.Equal(0, tracker.Count);
    }

    [Fact]
    public void The_table_never_holds_more_than_its_bound()
    {
        _state.UnionWith(Enumerable.Range(0, 50).Select(i => "k" + i));
        var tracker = Tracker(maxTracked: 8);

        foreach (var key in _state)
        {
            tracker.Touch(key, 100);
        }

        tracker.Touch(_state.ToList(), 200);

        Assert.Equal(8, tracker.Count);
        Assert.Equal(8, _state.Count(k => tracker.LastAccess(k, -1) == 200)); // tracked keys are still refreshed
    }

    [Fact]
    public void A_follower_keeps_only_its_bounded_next_report()
    {
        _leader = false;
        _state.UnionWith(Enumerable.Range(0, 500).Select(i => "k" + i));
        var tracker = Tracker(maxUnreported: 100);

        foreach (var key in _state)
        {
            tracker.Touch(key, 100);
        }

        tracker.Touch(_state.ToList(), 100); // a report sent to a follower is ignored

        Assert.Equal(0, tracker.Count);
        Assert.Equal(-1, tracker.LastAccess("k1", -1));
        Assert.Equal(100, tracker.TakeUnreported(1000).Count);
        Assert.Empty(tracker.TakeUnreported(1000));
    }

    [Fact]
    public void A_leader_that_steps_down_drops_its_table()
    {
        _state.UnionWith(["a", "b"]);
        var tracker = Tracker();
        tracker.Touch(["a", "b"], 10);
        Assert.Equal(2, tracker.Count);

        _leader = false;
        tracker.Maintain();

        Assert.Equal(0, tracker.Count);
    }
}
