import type { VolunteerView } from '../volunteer.js';

/** A part of the page: built once, updated with every new view of the volunteer. */
export interface Section {
  el: HTMLElement;
  update(view: VolunteerView): void;
}
