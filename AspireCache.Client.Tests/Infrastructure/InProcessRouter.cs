// Copied from AspireCache.Tests/InProcess (a test project cannot reference another one cleanly); keep in step.
using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireCache.Client.Tests.Infrastructure;

/// <summary>The real router (YARP + policies + retries) in this process, in front of an <see cref="InProcessCluster"/>.</summary>
public sealed class InProcessRouter : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessRouter(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public HttpClient Client() => new() { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(30) };

    public static async Task<InProcessRouter> StartAsync(InProcessCluster cluster, IDictionary<string, string?>? overrides = null)
    {
        var url = new Uri($"http://127.0.0.1:{TestPorts.Free()}");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        var settings = new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Warning" };
        for (var i = 0; i < InProcessCluster.Ids.Length; i++)
        {
            settings[$"services:{InProcessCluster.Ids[i]}:http:0"] = cluster.Urls[i].ToString();
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls(url.ToString());
        builder.Logging.ClearProviders();
        builder.Services.AddServiceDiscovery();
        builder.Services.AddProblemDetails();
        builder.Services.AddHealthChecks();
        // The router's Extensions are internal (visible to AspireCache.Tests only): reached by reflection.
        RouterExtension("AddRouterServices").Invoke(null, [builder]);
        var app = builder.Build();
        // As Program.cs does with ServiceDefaults' MapDefaultEndpoints: the client's health check reads it.
        app.MapHealthChecks("/health");
        RouterExtension("MapRouter").Invoke(null, [app]);
        await app.StartAsync();
        return new InProcessRouter(app, url);
    }

    private static MethodInfo RouterExtension(string name) =>
        Assembly.Load("AspireCache.Router").GetType("AspireCache.Router.Extensions", throwOnError: true)!
            .GetMethod(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

}
