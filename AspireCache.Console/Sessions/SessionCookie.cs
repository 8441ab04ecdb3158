namespace AspireCache.Console.Sessions;

/// <summary>The session cookie: an opaque random token, HttpOnly, SameSite=Strict, never the key.</summary>
internal static class SessionCookie
{
    public const string Name = "AspireCache.Console.Session";

    /// <summary>A browser-session cookie (the server decides expiry); Secure whenever the request is HTTPS.</summary>
    public static CookieOptions Options(HttpContext http) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = http.Request.IsHttps,
        IsEssential = true,
        Path = "/",
    };
}
