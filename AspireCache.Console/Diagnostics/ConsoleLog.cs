namespace AspireCache.Console.Diagnostics;

/// <summary>The console's log messages (event ids 3000–3099). Never a key: sessions are named by their key's fingerprint.</summary>
internal static partial class ConsoleLog
{
    [LoggerMessage(3001, LogLevel.Information, "Operator signed in (key fingerprint {Fingerprint}); {Active} sessions")]
    public static partial void SignedIn(ILogger logger, string fingerprint, int active);

    [LoggerMessage(3002, LogLevel.Information, "Sign-in refused: {Reason}")]
    public static partial void SignInRefused(ILogger logger, string reason);

    [LoggerMessage(3003, LogLevel.Information, "Session of key fingerprint {Fingerprint} ended: {Reason}")]
    public static partial void SessionEnded(ILogger logger, string fingerprint, string reason);

    [LoggerMessage(3004, LogLevel.Warning, "The session table is full ({Max} sessions, Console:Sessions:MaxSessions): the session idle the longest was ended to admit a new sign-in")]
    public static partial void SessionTableFull(ILogger logger, int max);

    [LoggerMessage(3010, LogLevel.Information, "Write to {Key} refused: the key is at version {Current}, the operator saw {Shown}; shown as a conflict")]
    public static partial void Conflict(ILogger logger, string key, long? current, long shown);

    [LoggerMessage(3011, LogLevel.Information, "Batch of {Count} changes published at revision {Revision} (key fingerprint {Fingerprint})")]
    public static partial void BatchPublished(ILogger logger, int count, long revision, string fingerprint);

    [LoggerMessage(3012, LogLevel.Information, "Batch of {Count} changes refused: {Conflicts} keys changed since they were staged")]
    public static partial void BatchConflict(ILogger logger, int count, int conflicts);

    [LoggerMessage(3020, LogLevel.Warning, "Watch of {Filter} ended: {Reason}")]
    public static partial void WatchEnded(ILogger logger, string filter, string reason);

    [LoggerMessage(3021, LogLevel.Debug, "Node {Node} at {Url} could not be reached from the console: {Reason}")]
    public static partial void NodeUnreachable(ILogger logger, string node, Uri url, string reason);
}
