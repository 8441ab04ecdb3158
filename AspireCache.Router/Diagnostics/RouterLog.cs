namespace AspireCache.Router.Diagnostics;

/// <summary>Router log messages (event ids 2000–2099). Nothing here is logged per request.</summary>
internal static partial class RouterLog
{
    [LoggerMessage(2001, LogLevel.Information, "Leader changed from {Previous} to {Current} (term {Term})")]
    public static partial void LeaderChanged(ILogger logger, string previous, string current, long term);

    [LoggerMessage(2002, LogLevel.Warning, "Node {Node} is unreachable: {Reason}")]
    public static partial void NodeUnreachable(ILogger logger, string node, string reason);
}
