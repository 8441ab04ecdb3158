using AspireCache.Client;
using AspireCache.Console.Components;
using AspireCache.Console.Diagnostics;
using AspireCache.Console.Options;
using AspireCache.Console.Services;
using AspireCache.Console.Sessions;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.FluentUI.AspNetCore.Components;

namespace AspireCache.Console.Extensions;

/// <summary>The console's wiring: options, the cluster connection, sessions and sign-in, the Blazor app.</summary>
public static class ConsoleExtensions
{
    public static IHostApplicationBuilder AddConsoleServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<CacheLimits>().BindConfiguration(CacheLimits.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LimitsSource>();
        services.AddOptions<ConsoleSessionOptions>().BindConfiguration(ConsoleSessionOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();

        // The cluster: ConnectionStrings:cache, read the way AddAspireCacheClient reads it. No
        // IAspireCacheClient is registered: the only clients are the operators' own, one per session.
        var connectionName = builder.Configuration.GetSection(ConsoleOptions.SectionName).GetValue<string>(nameof(ConsoleOptions.ConnectionName)) ?? "cache";
        var settings = new AspireCacheClientSettings();
        var section = builder.Configuration.GetSection(AspireCacheClientExtensions.DefaultConfigSectionName);
        section.Bind(settings);
        section.GetSection(connectionName).Bind(settings);
        settings.ParseConnectionString(builder.Configuration.GetConnectionString(connectionName));
        var endpoint = new ClusterEndpoint(settings, connectionName);
        services.AddSingleton(endpoint);
        services.AddHttpClient(ClusterEndpoint.HttpClientName, client =>
            {
                client.BaseAddress = endpoint.Url;
                client.Timeout = Timeout.InfiniteTimeSpan; // calls have their deadlines; watches last as long as a page shows them
            })
            // The client retries by its own rules; a generic resilience handler would stack on them.
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) => handlers.Clear())
            // IHttpClientFactory's Trace logging carries request headers (the operator's key) in its state.
            .RemoveAllLoggers();
        services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster");

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ConsoleTelemetry>();
        services.AddSingleton<OperatorConnections>();
        services.AddSingleton<SessionStore>();
        services.AddSingleton<SignInService>();
        services.AddHostedService<SessionSweeper>();
        services.AddSingleton<KeyWrites>();
        services.AddSingleton<Publisher>();

        // Operators: a session cookie that names a server-side session; pages re-check it while open.
        services.AddAuthentication(SessionAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, SessionAuthenticationHandler>(SessionAuthenticationHandler.SchemeName, configureOptions: null);
        services.AddAuthorization();
        services.AddCascadingAuthenticationState();
        services.AddScoped<AuthenticationStateProvider, SessionRevalidation>();
        services.AddScoped<IOperatorAccess, OperatorAccess>();

        // The editor sends its text to the server as it changes: a whole value must fit in one message
        // (SignalR's default is 32 KiB). Hex text takes ~3 characters per byte; JSON escaping adds some.
        var maxValueBytes = builder.Configuration.GetSection(CacheLimits.SectionName).GetValue<int?>(nameof(CacheLimits.MaxValueBytes)) ?? new CacheLimits().MaxValueBytes;
        services.AddRazorComponents()
            .AddInteractiveServerComponents()
            .AddHubOptions(hub => hub.MaximumReceiveMessageSize = (3L * maxValueBytes) + (256 * 1024));
        services.AddHttpClient(); // Fluent UI asks for a default HttpClient on Blazor Server
        services.AddFluentUIComponents();
        return builder;
    }

    public static WebApplication MapConsole(this WebApplication app)
    {
        if (!app.Environment.IsDevelopment())
        {
            app.UseExceptionHandler("/error", createScopeForErrors: true);
        }

        app.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
        app.Use(static (context, next) =>
        {
            // An operator console is framed by nobody and leaks no URL (they carry key names) to other sites.
            var headers = context.Response.Headers;
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            return next(context);
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();

        app.MapStaticAssets();
        app.MapSessionEndpoints();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        return app;
    }
}
