using AspireCache.Console.Diagnostics;
using AspireCache.Console.Options;
using AspireCache.Console.Services;
using AspireCache.Console.Sessions;
using AspireCache.Console.Tests.Support;
using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.FluentUI.AspNetCore.Components;

namespace AspireCache.Console.Tests.Components;

/// <summary>
/// A bUnit context with what the console's pages need: Fluent UI (its JavaScript calls answered
/// loosely), the options, the write services, and a signed-in operator whose session talks to a
/// <see cref="FakeCluster"/>. <see cref="EndSession"/> makes the session disappear, as sign-out does.
/// </summary>
public abstract class ConsoleComponentContext : BunitContext
{
    private readonly SwitchableAccess _access;

    protected ConsoleComponentContext(CacheLimits? limits = null)
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Session = new OperatorSession("session-1", "0123abcd", Cluster, Cluster, DateTimeOffset.UtcNow);
        _access = new SwitchableAccess(Session);
        Services.AddFluentUIComponents();
        Services.AddLogging();
        Services.AddMetrics();
        Services.AddSingleton(TimeProvider.System);
        Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(new ConsoleOptions()));
        Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(limits ?? new CacheLimits()));
        Services.AddSingleton<LimitsSource>();
        Services.AddSingleton<ConsoleTelemetry>();
        Services.AddSingleton<KeyWrites>();
        Services.AddSingleton<Publisher>();
        Services.AddSingleton<IOperatorAccess>(_access);
    }

    protected FakeCluster Cluster { get; } = new();

    protected OperatorSession Session { get; }

    protected NavigationManager Navigation => Services.GetRequiredService<NavigationManager>();

    protected void NavigateTo(string relative) => Navigation.NavigateTo(relative);

    protected void EndSession() => _access.Current = null;

    private sealed class SwitchableAccess(OperatorSession session) : IOperatorAccess
    {
        public OperatorSession? Current { get; set; } = session;

        public Task<OperatorSession?> CurrentAsync() => Task.FromResult(Current);
    }
}
