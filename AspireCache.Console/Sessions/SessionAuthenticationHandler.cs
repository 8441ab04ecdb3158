using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AspireCache.Console.Sessions;

/// <summary>
/// Authenticates a request by its session cookie: the token is looked up in the
/// <see cref="SessionStore"/>; the principal carries the session's id and key fingerprint, never the
/// key. An anonymous visitor of a page is sent to the login page (<c>/login?returnUrl=…</c>).
/// </summary>
internal sealed class SessionAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    SessionStore sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "AspireCache.Console.Session";

    public const string LoginPath = "/login";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Cookies.TryGetValue(SessionCookie.Name, out var token) || string.IsNullOrEmpty(token))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (sessions.FindByToken(token) is not { } session)
        {
            // Signed out, expired or evicted: the cookie is worthless, drop it.
            Response.Cookies.Delete(SessionCookie.Name, SessionCookie.Options(Context));
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(SessionClaims.SessionId, session.Id),
                new Claim(SessionClaims.Fingerprint, session.Fingerprint),
                new Claim(ClaimTypes.Name, $"key {session.Fingerprint}"),
            ],
            SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Redirect(LoginUrl(Request.PathBase + Request.Path + Request.QueryString));
        return Task.CompletedTask;
    }

    /// <summary>The login page, returning to <paramref name="returnUrl"/> (a local path) afterwards.</summary>
    public static string LoginUrl(string? returnUrl) =>
        string.IsNullOrEmpty(returnUrl) || returnUrl == "/" ? LoginPath : $"{LoginPath}?returnUrl={Uri.EscapeDataString(returnUrl)}";
}
