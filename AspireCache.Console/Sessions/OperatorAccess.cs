using Microsoft.AspNetCore.Components.Authorization;

namespace AspireCache.Console.Sessions;

/// <summary>How a page reaches its operator's session (and through it, the cluster).</summary>
public interface IOperatorAccess
{
    /// <summary>The page's live session, marked as used now; null once it ended (the page then sends the operator to sign in).</summary>
    Task<OperatorSession?> CurrentAsync();
}

/// <summary>Finds the session named by the page's principal (its session-id claim) in the <see cref="SessionStore"/>.</summary>
internal sealed class OperatorAccess(AuthenticationStateProvider authentication, SessionStore sessions) : IOperatorAccess
{
    public async Task<OperatorSession?> CurrentAsync()
    {
        var state = await authentication.GetAuthenticationStateAsync();
        return sessions.Find(state.User.FindFirst(SessionClaims.SessionId)?.Value);
    }
}
