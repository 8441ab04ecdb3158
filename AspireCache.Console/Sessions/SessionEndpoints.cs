using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace AspireCache.Console.Sessions;

/// <summary><c>POST /logout</c>: a form post with Blazor's antiforgery token (validated by <c>UseAntiforgery</c> for form endpoints).</summary>
internal static class SessionEndpoints
{
    public const string LogoutPath = "/logout";

    public static IEndpointRouteBuilder MapSessionEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost(LogoutPath, SignOut);
        return app;
    }

    private static RedirectHttpResult SignOut(HttpContext http, SignInService signIn, [FromForm(Name = "returnUrl")] string? returnUrl)
    {
        signIn.SignOut(http);
        return TypedResults.Redirect(SessionAuthenticationHandler.LoginUrl(LocalOnly(returnUrl)));
    }

    /// <summary>A local path (no scheme, no host, no <c>//</c>), else null: never an open redirect.</summary>
    public static string? LocalOnly(string? url) =>
        url is { Length: > 0 } && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) ? url : null;
}
