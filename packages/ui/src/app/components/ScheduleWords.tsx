import type { Deployment } from '@drover/schemas';
import { useEffect, useState } from 'react';
import { describeSchedule } from '../format.js';

type Schedule = Deployment['schedules'][number]['schedule'];

/**
 * A schedule in words. An rrule's words come from the rrule library, loaded the first time one is
 * shown (its text stands in until then): most deployments have none, and it weighs 20 KB.
 */
export function ScheduleWords({ schedule }: { schedule: Schedule }) {
  const [rruleText, setRruleText] = useState<string | null>(null);
  const rule = 'rrule' in schedule ? schedule.rrule : null;
  useEffect(() => {
    if (rule === null) return;
    let current = true;
    import('rrule')
      .then(({ rrulestr }) => {
        if (current) setRruleText(rrulestr(rule).toText());
      })
      // A rule the library cannot put in words keeps its text.
      .catch(() => {});
    return () => {
      current = false;
    };
  }, [rule]);
  if (rule !== null && rruleText) {
    const words = rruleText.charAt(0).toUpperCase() + rruleText.slice(1);
    return <span title={rule}>{`${words} (${schedule.timezone ?? 'UTC'})`}</span>;
  }
  return <>{describeSchedule(schedule)}</>;
}
