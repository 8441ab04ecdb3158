namespace AspireCache.Node.Api.OpenApi;

/// <summary>One RFC 9457 problem <c>type</c> the API answers with.</summary>
/// <param name="Type">The full <c>type</c> URI.</param>
/// <param name="Statuses">The HTTP statuses it comes with.</param>
/// <param name="Meaning">What it means and what the client should do.</param>
public sealed record ProblemTypeDoc(string Type, string Statuses, string Meaning)
{
    /// <summary>The short name after <see cref="ProblemTypes.Base"/>.</summary>
    public string Name => Type.StartsWith(ProblemTypes.Base, StringComparison.Ordinal) ? Type[ProblemTypes.Base.Length..] : Type;
}

/// <summary>
/// Every problem type of the node API and the router (<see cref="ProblemTypes"/>, plus the few the
/// handlers name inline), as published in the OpenAPI document: the <c>ProblemDetails</c> schema's
/// <c>type</c> description and its <c>x-problem-types</c> extension, and the document's description.
/// </summary>
public static class ProblemCatalog
{
    public static IReadOnlyList<ProblemTypeDoc> All { get; } =
    [
        new(ProblemTypes.InvalidRequest, "400", "A query parameter, header or body is malformed (the `detail` says which). Nothing was done."),
        new(ProblemTypes.InvalidKey, "400", "The key is empty, has control characters or a lone surrogate, is longer than the limit, or is reserved (`hot`, `batch`, `watch`)."),
        new(ProblemTypes.RevisionAhead, "400", "A watch's resume point is above the cluster's revision (`currentRevision`): it was never produced by this cluster."),
        new(FrameworkBadRequest, "400", "A route or query value the framework binds (e.g. `whenBehind`) is malformed."),
        new(ProblemTypes.Unauthenticated, "401", "No credential, a malformed one, or a key the cluster does not accept (`WWW-Authenticate: Bearer`)."),
        new(ProblemTypes.Forbidden, "403", "The credential lacks the scope the request needs, or a key (or prefix) is outside its prefixes."),
        new(ProblemTypes.KeyNotFound, "404", "No value is stored under the key (`X-AspireCache-Revision` says as of which revision)."),
        new(ProblemTypes.StreamNotFound, "404", "The watch stream is not open on this node (it closed, or another node serves it)."),
        new(ProblemTypes.Base + "peer-endpoint-only", "404", "A Raft or node-to-node request sent to a node's client endpoint."),
        new(ProblemTypes.Base + "client-endpoint-only", "404", "A client request sent to a node's cluster (peer) endpoint: use the node's HTTP endpoint."),
        new(ProblemTypes.Base + "step-down-failed", "409", "Step down did not happen: the node was no longer leader."),
        new(ProblemTypes.RevisionCompacted, "410", "A watch's resume point is older than the node's history (`oldestRevision`, `currentRevision`): list the keys again and watch from the list's revision."),
        new(ProblemTypes.PreconditionFailed, "412", "A version condition (`If-Match`, `If-None-Match: *`, a batch's `if`) did not hold (`key`, `currentVersion`). Nothing was written."),
        new(ProblemTypes.TooLarge, "413", "The body (a value, a batch, a report) or a batch's key count is over the limit. Nothing was written."),
        new(ProblemTypes.Base + "unsupported-media-type", "415", "The body must be `application/json`."),
        new(ProblemTypes.NotLeader, "421, 409", "421: a write (or leader-only call) reached a follower; the leader is in `X-AspireCache-Leader` and `X-AspireCache-Leader-Url` — send it there (the router does). 409: only the leader can step down."),
        new(ProblemTypes.LeadershipLost, "421", "Leadership moved while the write was replicating: its outcome is unknown. Retry at the new leader with the same `Idempotency-Key`."),
        new(ProblemTypes.IdempotencyKeyReused, "422", "The `Idempotency-Key` was used for a different request. Nothing was written."),
        new(ProblemTypes.RateLimited, "429", "Router: the caller's credential (or address) is over its request rate. Nothing reached a node; retry after `Retry-After` seconds."),
        new(ProblemTypes.TooManyWatchersForCredential, "429", "The credential already has its most watch streams open on this node (`Watch:MaxWatchersPerCredential`); close one or retry after `Retry-After`."),
        new(ProblemTypes.Internal, "500", "An unexpected error; it was logged on the node (no stack trace is sent)."),
        new(FrameworkServerError, "500", "Router: an unexpected error in the router itself."),
        new(ProblemTypes.NoLeader, "503", "No leader is known (an election, a lost quorum), or it could not be reached. Retry after `Retry-After`."),
        new(ProblemTypes.Overloaded, "503", "Too many reads or writes are waiting on this node; nothing was done. Retry after `Retry-After`."),
        new(ProblemTypes.Timeout, "503", "The cluster did not answer in time. For a write its outcome is unknown: retry with the same `Idempotency-Key`."),
        new(ProblemTypes.TooManyWatchers, "503", "The node serves as many watch streams as it may (`Watch:MaxWatchers`); retry later or on another node."),
        new(ProblemTypes.Base + "node-stopping", "503", "The node is shutting down; watch again elsewhere and resume with `Last-Event-ID`."),
        new(ProblemTypes.NoNode, "503", "Router: no node could serve the request within its retry deadline. Retry after `Retry-After`."),
        new(ProblemTypes.ExceedsMemoryBudget, "507", "The write can never fit the cluster's memory budget. Nothing was written."),
        new(ProblemTypes.MemoryBudgetExhausted, "507", "The memory budget is full (eviction has not caught up, or pinned keys fill it). Retry later; nothing was written."),
    ];

    /// <summary>The type ASP.NET Core gives a 400 of its own parameter binding (turned into a problem by the status code pages).</summary>
    public const string FrameworkBadRequest = "https://tools.ietf.org/html/rfc9110#section-15.5.1";

    /// <summary>The type ASP.NET Core gives an unhandled exception's 500 (the router's exception handler).</summary>
    public const string FrameworkServerError = "https://tools.ietf.org/html/rfc9110#section-15.6.1";

    /// <summary>The full URI of <paramref name="type"/>: a short name under <see cref="ProblemTypes.Base"/>, or already a URI.</summary>
    public static string Uri(string type) => type.Contains("://", StringComparison.Ordinal) ? type : ProblemTypes.Base + type;
}
