using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;
using Microsoft.Extensions.Options;

namespace AspireCache.Console.Sessions;

/// <summary>
/// An open page (a Blazor circuit) checks now and then that its session still exists: signed out in
/// another tab, expired or evicted, the page's user becomes anonymous and it goes to the login page.
/// </summary>
internal sealed class SessionRevalidation(ILoggerFactory loggers, SessionStore sessions, IOptions<ConsoleSessionOptions> options)
    : RevalidatingServerAuthenticationStateProvider(loggers)
{
    protected override TimeSpan RevalidationInterval => options.Value.RevalidationInterval;

    protected override Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken) =>
        Task.FromResult(sessions.IsActive(authenticationState.User.FindFirst(SessionClaims.SessionId)?.Value));
}
