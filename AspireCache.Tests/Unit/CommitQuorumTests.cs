using System.Reflection;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Tests.Unit;

/// <summary>
/// DotNext 6.12's commit rule, run from its shipped assembly, and why <c>SnapshotAnswerMiddleware</c> exists.
/// <para>
/// Its leader ends a round once the answers it has reach a consensus (<c>ReplicationBarrier</c>), and commits the
/// middle of them (<c>LeaderState.GetCommitIndex</c>: sorted, <c>[(n - 1) / 2]</c>), not the smallest. Every
/// AppendEntries answer with the leader's term acknowledges the round's last index C, a refusal or a lost request
/// counts as 0, but an InstallSnapshot answer with the leader's term acknowledges the snapshot's index S &lt; C. So
/// with 5 or 7+ members, answers such as C, C, S committed C on fewer members than every majority includes. The
/// middleware sends every snapshot answer as contact without an index (<c>Replicated</c>); these tests run every
/// round DotNext's own barrier can end, and check that no entry above the earlier commit is committed on less
/// than a majority.
/// </para>
/// </summary>
public sealed class CommitQuorumTests
{
    private const long Round = 10;   // C: the leader's last index when the round started
    private const long Snapshot = 7; // S: a snapshot's index; at or below the commit index before the round

    /// <summary>What a follower's answer is, in a round.</summary>
    public enum Answer
    {
        /// <summary>An AppendEntries answer with the leader's term: it holds C.</summary>
        Holds,

        /// <summary>An InstallSnapshot answer at S, as the follower sends it (DotNext's own, or the middleware's).</summary>
        Snapshot,

        /// <summary>A refusal, an answer without the leader's term, or a failed request: contact, index 0.</summary>
        Refused,

        /// <summary>The member is unavailable (DotNext's failure detector, or its replication queue is full).</summary>
        Unavailable,

        /// <summary>No answer before the round ends.</summary>
        Silent,
    }

    private delegate long CommitIndexOf(Span<long> answers);

    /// <summary>A majority of <paramref name="members"/>.</summary>
    private static int Majority(int members) => members / 2 + 1;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    public void With_snapshot_answers_sent_as_contact_no_round_commits_an_entry_that_less_than_a_majority_holds(int members)
    {
        var rounds = 0;
        foreach (var answers in Rounds(members))
        {
            rounds++;
            var (committed, holders) = DotNextRound.Run(members, answers, snapshotAnswer: null);
            Assert.False(
                committed > Snapshot && holders < Majority(members),
                $"{members} members, answers [{string.Join(", ", answers)}]: committed {committed} with {holders} holders; a majority is {Majority(members)}");
        }

        Assert.True(rounds > 0);
    }

    /// <summary>
    /// The defect the middleware exists for, in DotNext's own code: with five members, the round
    /// leader C, follower C, follower S ends at once and commits C, which two of five hold. With three members
    /// the same answers are safe (the middle of two is the smaller). Fails once DotNext takes the smallest
    /// answer (Raft's rule): then the middleware can go.
    /// </summary>
    [Fact]
    public void DotNexts_own_snapshot_answer_lets_five_members_commit_from_two_holders()
    {
        Assert.Equal((Round, 2), DotNextRound.Run(5, [Answer.Holds, Answer.Snapshot], snapshotAnswer: Snapshot));
        Assert.Equal((Snapshot, 1), DotNextRound.Run(3, [Answer.Snapshot], snapshotAnswer: Snapshot));

        // Every unsafe round of five has a snapshot answer in it: without one, DotNext's rule is safe.
        var unsafeRounds = Rounds(5).Where(answers => DotNextRound.Run(5, answers, Snapshot) is var (committed, holders) && committed > Snapshot && holders < 3).ToList();
        Assert.NotEmpty(unsafeRounds);
        Assert.All(unsafeRounds, answers => Assert.Contains(Answer.Snapshot, answers));
    }

    /// <summary>DotNext's rule itself (the private <c>GetCommitIndex(Span&lt;long&gt;)</c>): the middle of the sorted answers.</summary>
    [Fact]
    public void DotNext_commits_the_middle_of_the_answers_it_has()
    {
        var commitIndexOf = DotNextCommitIndex();
        Assert.Equal(10, commitIndexOf([7, 10, 10])); // five members: C from two holders of it
        Assert.Equal(7, commitIndexOf([7, 10]));      // three members: the smaller
        Assert.Equal(0, commitIndexOf([10, 0, 0]));   // contact without an index lowers it
    }

    /// <summary>
    /// The answers of a round, in the order they arrive: every assignment of an <see cref="Answer"/> to each
    /// follower in every order up to five members; for larger clusters a fixed sample (seeded) of them.
    /// </summary>
    private static IEnumerable<Answer[]> Rounds(int members)
    {
        var followers = members - 1;
        var kinds = Enum.GetValues<Answer>();
        if (members <= 5)
        {
            foreach (var assignment in Assignments(followers, kinds))
            {
                foreach (var order in Permutations([.. assignment.Where(a => a != Answer.Silent)]))
                {
                    yield return order;
                }
            }

            yield break;
        }

        var random = new Random(members);
        for (var i = 0; i < 4_000; i++)
        {
            yield return [.. Enumerable.Range(0, followers).Select(_ => kinds[random.Next(kinds.Length)]).Where(a => a != Answer.Silent)];
        }
    }

    private static IEnumerable<Answer[]> Assignments(int followers, Answer[] kinds) =>
        followers == 0
            ? [[]]
            : Assignments(followers - 1, kinds).SelectMany(rest => kinds.Select(kind => (Answer[])[kind, .. rest]));

    private static IEnumerable<Answer[]> Permutations(Answer[] answers) =>
        answers.Length <= 1
            ? [answers]
            : Enumerable.Range(0, answers.Length)
                .Where(i => Array.IndexOf(answers, answers[i]) == i) // each distinct answer first once
                .SelectMany(i => Permutations([.. answers[..i], .. answers[(i + 1)..]]).Select(rest => (Answer[])[answers[i], .. rest]));

    private static CommitIndexOf DotNextCommitIndex()
    {
        var leaderState = DotNextRound.Type("DotNext.Net.Cluster.Consensus.Raft.LeaderState`1");
        var method = leaderState.MakeGenericType(typeof(IRaftClusterMember))
            .GetMethod("GetCommitIndex", BindingFlags.NonPublic | BindingFlags.Static, [typeof(Span<long>)])
            ?? throw new NotSupportedException("DotNext's LeaderState no longer has GetCommitIndex(Span<long>): re-examine SnapshotAnswerMiddleware against its commit rule.");
        return method.CreateDelegate<CommitIndexOf>();
    }

    /// <summary>
    /// One replication round through DotNext 6.12's own <c>ReplicationBarrier</c> and <c>MemberResult</c> (internal;
    /// reflection), as its leader runs it: its own result first (<c>Replicated(C)</c>, slot 0), then each follower's
    /// in arrival order until the barrier completes; then, with consensus, <c>GetCommitIndex</c> over the results it
    /// holds. Answers after completion are late and ignored, as DotNext ignores them.
    /// </summary>
    private static class DotNextRound
    {
        private static readonly Type Barrier = Type("DotNext.Net.Cluster.Consensus.Raft.ReplicationUtils.ReplicationBarrier");
        private static readonly Type MemberResult = Type("DotNext.Net.Cluster.Consensus.Raft.ReplicationUtils.MemberResult");
        private static readonly MethodInfo WaitAsync = Member(Barrier.GetMethod("WaitAsync"));
        private static readonly MethodInfo SetResult = Member(Barrier.GetMethod("SetResult"));
        private static readonly PropertyInfo IsCompleted = Member(Barrier.GetProperty("IsCompleted"));
        private static readonly MethodInfo Slot = Member(Barrier.GetMethod("get_Item"));
        private static readonly MethodInfo Replicated = Member(MemberResult.GetMethod("Replicated", BindingFlags.Public | BindingFlags.Static));
        private static readonly PropertyInfo ReplicatedIndex = Member(MemberResult.GetProperty("ReplicatedIndex"));
        private static readonly CommitIndexOf CommitIndex = DotNextCommitIndex();

        public static Type Type(string name) => typeof(IRaftCluster).Assembly.GetType(name)
            ?? throw new NotSupportedException($"DotNext no longer has {name}: re-examine SnapshotAnswerMiddleware against its commit rule.");

        private static T Member<T>(T? member) where T : MemberInfo => member
            ?? throw new NotSupportedException("DotNext's replication round changed: re-examine SnapshotAnswerMiddleware against its commit rule.");

        /// <param name="snapshotAnswer">The index a snapshot answer carries: S as DotNext answers, or null for the middleware's contact (0).</param>
        /// <returns>The index committed (0 when the round does not end, or ends without consensus), and how many members hold C among those whose results the barrier counted.</returns>
        public static (long Committed, int Holders) Run(int members, IReadOnlyList<Answer> answers, long? snapshotAnswer)
        {
            var barrier = Activator.CreateInstance(Barrier, nonPublic: true)!;
            var completion = WaitAsync.Invoke(barrier, [members, Round])!;
            SetResult.Invoke(barrier, [Replicated.Invoke(null, [Round])]);
            var holders = 1;
            foreach (var answer in answers)
            {
                if ((bool)IsCompleted.GetValue(barrier)!)
                {
                    break;
                }

                holders += answer == Answer.Holds ? 1 : 0;
                object? result = answer switch
                {
                    Answer.Holds => Replicated.Invoke(null, [Round]),
                    Answer.Snapshot => Replicated.Invoke(null, [snapshotAnswer ?? 0L]),
                    Answer.Refused => Replicated.Invoke(null, [0L]), // MemberResult.Touched
                    _ => null,                                        // MemberResult.Unavailable
                };
                SetResult.Invoke(barrier, [result]);
            }

            if (!(bool)IsCompleted.GetValue(barrier)!)
            {
                return (0, holders);
            }

            var replication = completion.GetType().GetProperty("Result")!.GetValue(completion)!;
            object?[] outcome = [0, false];
            replication.GetType().GetMethod("Deconstruct")!.Invoke(replication, outcome);
            if (!(bool)outcome[1]!)
            {
                return (0, holders);
            }

            var indices = new long[(int)outcome[0]!];
            for (var i = 0; i < indices.Length; i++)
            {
                indices[i] = (long)ReplicatedIndex.GetValue(Slot.Invoke(barrier, [i]))!;
            }

            return (CommitIndex(indices), holders);
        }
    }
}
