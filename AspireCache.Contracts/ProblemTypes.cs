namespace AspireCache.Contracts;

/// <summary>
/// RFC 9457 problem <c>type</c> URIs: <see cref="Base"/> + a name. Stable: clients switch on them.
/// </summary>
public static class ProblemTypes
{
    public const string Base = "https://aspirecache.dev/problems/";

    public const string InvalidRequest = Base + "invalid-request";
    public const string InvalidKey = Base + "invalid-key";
    public const string TooLarge = Base + "too-large";
    public const string KeyNotFound = Base + "key-not-found";
    public const string PreconditionFailed = Base + "precondition-failed";
    public const string IdempotencyKeyReused = Base + "idempotency-key-reused";
    public const string ExceedsMemoryBudget = Base + "exceeds-memory-budget";
    public const string MemoryBudgetExhausted = Base + "memory-budget-exhausted";

    /// <summary>421: a write reached a follower; the leader is in the <c>X-AspireCache-Leader(-Url)</c> headers.</summary>
    public const string NotLeader = Base + "not-leader";

    /// <summary>421: leadership moved during the write; its outcome is unknown (retry with the same idempotency key).</summary>
    public const string LeadershipLost = Base + "leadership-lost";

    /// <summary>503: no leader (election, lost quorum).</summary>
    public const string NoLeader = Base + "no-leader";

    /// <summary>503: too many writes waiting.</summary>
    public const string Overloaded = Base + "overloaded";

    /// <summary>503: not confirmed in time; for a write, its outcome is unknown.</summary>
    public const string Timeout = Base + "timeout";

    /// <summary>429 from the router: the caller's credential (or address) is over its request rate; see <c>Retry-After</c>.</summary>
    public const string RateLimited = Base + "rate-limited";

    /// <summary>429 from a node: the credential already has its most open watch streams there; see <c>Retry-After</c>.</summary>
    public const string TooManyWatchersForCredential = Base + "too-many-watchers-for-credential";

    /// <summary>503 from the router: no node could serve the request.</summary>
    public const string NoNode = Base + "no-node";

    /// <summary>410: a watch resume point older than the node's history (<c>oldestRevision</c>, <c>currentRevision</c>).</summary>
    public const string RevisionCompacted = Base + "revision-compacted";

    /// <summary>400: a watch resume point above the cluster's revision.</summary>
    public const string RevisionAhead = Base + "revision-ahead";

    /// <summary>503: the node serves as many watch streams as it may.</summary>
    public const string TooManyWatchers = Base + "too-many-watchers";

    /// <summary>404: the watch stream is not open on this node.</summary>
    public const string StreamNotFound = Base + "stream-not-found";

    /// <summary>401: no credential, a malformed one, or a key the cluster does not accept (<c>WWW-Authenticate: Bearer</c>).</summary>
    public const string Unauthenticated = Base + "unauthenticated";

    /// <summary>403: the credential lacks the scope the request needs, or a key is outside its prefixes.</summary>
    public const string Forbidden = Base + "forbidden";

    public const string Internal = Base + "internal";

    /// <summary>
    /// Whether a problem body says the write was proposed and may still commit (<see cref="LeadershipLost"/>,
    /// <see cref="Timeout"/>): a retry must carry the same Idempotency-Key, and a final failure is "outcome unknown".
    /// </summary>
    public static bool SaysOutcomeUnknown(string problem) =>
        problem.Contains(LeadershipLost, StringComparison.Ordinal) || problem.Contains(Timeout, StringComparison.Ordinal);
}

/// <summary>
/// Texts of problems that more than one service writes (kept apart from <see cref="ProblemTypes"/>, whose
/// string constants are exactly the type URIs the API documents list).
/// </summary>
public static class ProblemTexts
{
    /// <summary>The title of <see cref="ProblemTypes.KeyNotFound"/> (the node's 404, and the router's for a coalesced GET).</summary>
    public const string KeyNotFoundTitle = "The key does not exist";

    /// <summary>The detail of <see cref="ProblemTypes.KeyNotFound"/> for <paramref name="key"/>.</summary>
    public static string KeyNotFoundDetail(string key) => $"No value is stored under '{key}'.";
}
