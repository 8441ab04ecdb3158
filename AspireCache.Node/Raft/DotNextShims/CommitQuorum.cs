namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// A defect of DotNext 6.12 that this layer does not fix, only reports (docs/failure-behaviour.md, "Known, not
/// fixed"). Its leader ends a replication round once a majority has answered, itself included
/// (<c>ReplicationBarrier</c>), and takes the middle of those answers as the commit index
/// (<c>LeaderState.GetCommitIndex</c>: sorted, <c>[(n - 1) / 2]</c>), not the smallest. So the committed entry
/// is held by <see cref="HoldersOfCommit"/> members, where Raft needs more than members − majority: every
/// possible majority must include one of them. That holds for 1–4 and 6 members, not for 5, 7 or more.
/// </summary>
public static class CommitQuorum
{
    /// <summary>A majority of <paramref name="members"/>.</summary>
    public static int Majority(int members) => members / 2 + 1;

    /// <summary>How many members are sure to hold the entry DotNext 6.12 commits: those at or above the middle of a majority's answers.</summary>
    public static int HoldersOfCommit(int members)
    {
        var majority = Majority(members);
        return majority - (majority - 1) / 2;
    }

    /// <summary>Whether every majority of <paramref name="members"/> includes a holder of each committed entry, so that no election can lose it.</summary>
    public static bool IsSafe(int members) => HoldersOfCommit(members) > members - Majority(members);
}
