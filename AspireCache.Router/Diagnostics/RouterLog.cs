namespace AspireCache.Router.Diagnostics;

/// <summary>Router log messages (event ids 2000–2099). Nothing here is logged per request.</summary>
internal static partial class RouterLog
{
    [LoggerMessage(2001, LogLevel.Information, "Leader changed from {Previous} to {Current} (term {Term})")]
    public static partial void LeaderChanged(ILogger logger, string previous, string current, long term);

    [LoggerMessage(2002, LogLevel.Warning, "Node {Node} is unreachable: {Reason}")]
    public static partial void NodeUnreachable(ILogger logger, string node, string reason);

    [LoggerMessage(2003, LogLevel.Error, "Node {Node} refused the router's status request with {Status}: the router's credential (Router:Credential) is missing, not accepted, or lacks the read scope")]
    public static partial void CredentialRefused(ILogger logger, string node, int status);

    [LoggerMessage(2004, LogLevel.Warning, "The rate limiter tracks {Max} callers (Router:RateLimit:MaxPartitions): callers beyond them share one overflow bucket until idle ones are dropped")]
    public static partial void RateLimitTableFull(ILogger logger, int max);
}
