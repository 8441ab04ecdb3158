using AspireCache.Console.Options;
using AspireCache.Console.Sessions;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.Options;

namespace AspireCache.Console.Components.Shared;

/// <summary>
/// A page that acts for the signed-in operator: <see cref="SessionAsync"/> gives its session (the
/// operator's client and key live there), or sends the operator to sign in again when it ended.
/// </summary>
public abstract class OperatorPage : ComponentBase
{
    [Inject]
    protected IOperatorAccess Operator { get; set; } = default!;

    [Inject]
    protected NavigationManager Navigation { get; set; } = default!;

    [Inject]
    protected IOptions<ConsoleOptions> ConsoleOptions { get; set; } = default!;

    [Inject]
    protected LimitsSource LimitsSource { get; set; } = default!;

    [Inject]
    protected TimeProvider Clock { get; set; } = default!;

    /// <summary>The cluster's request limits (as its nodes publish them), else the configured <c>Console:Limits</c>.</summary>
    protected CacheLimits Limits => LimitsSource.Current;

    /// <summary>The page's session, or null after sending the operator to the login page.</summary>
    protected async Task<OperatorSession?> SessionAsync()
    {
        var session = await Operator.CurrentAsync();
        if (session is null)
        {
            Navigation.NavigateTo(SessionAuthenticationHandler.LoginUrl("/" + Navigation.ToBaseRelativePath(Navigation.Uri)), forceLoad: true);
        }

        return session;
    }

    /// <summary>A page URL with query parameters (values escaped).</summary>
    protected static string Link(string path, params (string Name, string? Value)[] query)
    {
        var parts = query.Where(q => q.Value is not null).Select(q => $"{q.Name}={Uri.EscapeDataString(q.Value!)}").ToArray();
        return parts.Length == 0 ? path : $"{path}?{string.Join('&', parts)}";
    }
}
