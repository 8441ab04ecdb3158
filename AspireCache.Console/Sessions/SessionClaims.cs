namespace AspireCache.Console.Sessions;

/// <summary>Claims of a signed-in operator's principal (server-side only).</summary>
public static class SessionClaims
{
    /// <summary>The session's id (<see cref="OperatorSession.Id"/>): how a page finds its session.</summary>
    public const string SessionId = "aspirecache:session";

    /// <summary>The operator's key fingerprint (shown in the header).</summary>
    public const string Fingerprint = "aspirecache:key-fingerprint";
}
