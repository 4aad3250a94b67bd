// Reasons to pause that come from the device, not the volunteer: running on battery (where
// the Battery Status API exists) and the tab being hidden.

interface BatteryManager extends EventTarget {
  readonly charging: boolean;
}

export interface PowerState {
  onBattery: boolean;
  hidden: boolean;
  /** Whether this browser can tell (the Battery Status API is Chromium-only). */
  batteryKnown: boolean;
}

export function watchPower(onChange: (s: PowerState) => void): PowerState {
  const state: PowerState = { onBattery: false, hidden: document.visibilityState === 'hidden', batteryKnown: false };
  document.addEventListener('visibilitychange', () => {
    state.hidden = document.visibilityState === 'hidden';
    onChange(state);
  });
  const getBattery = (navigator as Navigator & { getBattery?: () => Promise<BatteryManager> }).getBattery;
  if (typeof getBattery === 'function') {
    getBattery
      .call(navigator)
      .then((battery) => {
        const update = () => {
          state.batteryKnown = true;
          state.onBattery = !battery.charging;
          onChange(state);
        };
        battery.addEventListener('chargingchange', update);
        update();
      })
      .catch(() => undefined);
  }
  return state;
}
